import { describe, expect, it } from "vitest";
import type { BalancerSpec, ContainerSpec } from "../../../src/model/resources.js";
import { loadText } from "./support.js";

const fullToml = `
[servers.local]
ip = "127.0.0.1"
tags = ["web"]
groups = ["edge"]
childs = ["leaf"]
ssh = { host = "127.0.0.1", port = 2222, user = "ops", key = "/keys/id", host_key = "ssh-ed25519 AAAA" }

[servers.leaf]
ip = "10.0.0.2"
service_port = 9999

[containers.web]
image = "local/busybox:1"
replicas = 3
mode = "replicated"
command = "httpd -f -p 80 -h '/var/www html'"
entrypoint = ["/bin/sh", "-c"]
env = { GREETING = "hi", COUNT = 2, DEBUG = false }
ports = ["8080:80", "127.0.0.1:5353:53/udp", { host = 9090, container = 90, host_ip = "::1", protocol = "tcp" }]
volumes = ["/data:/data:ro"]
labels = { team = "a" }
restart = "unless-stopped"
memory = "64m"
cpus = 0.5
healthcheck = { test = ["CMD", "true"], interval = "5s", timeout = "1m30s", retries = 3, start_period = 250 }
placement = { nodes = ["local"] }
heal = false
update = { max_parallel = 2, order = "start-first", failure_action = "rollback" }

[balancers.front]
address = "127.0.0.1:8443"
node = "local"
protocol = "udp"
alg = "wlc"
backend = "ipvs"
drain_timeout = "1m30s"
backends = [{ container = "web", port = 80, weight = 2 }, { image = "local/busybox:1", port = 81 }]
`;

describe("native format", () => {
  it("normalizes every field of a TOML manifest into the model's specs", async () => {
    const { desired, issues } = await loadText("full.toml", fullToml);
    expect(issues).toEqual([]);
    expect(desired.servers.local).toEqual({
      name: "local",
      ip: "127.0.0.1",
      servicePort: 8888,
      tags: ["web"],
      groups: ["edge"],
      childs: ["leaf"],
      ssh: { host: "127.0.0.1", port: 2222, user: "ops", keyFile: "/keys/id", hostKey: "ssh-ed25519 AAAA" },
    });
    expect(desired.servers.leaf).toMatchObject({ servicePort: 9999, tags: [], childs: [] });
    expect(desired.containers.web).toEqual({
      name: "web",
      image: "local/busybox:1",
      replicas: 3,
      mode: "replicated",
      command: ["httpd", "-f", "-p", "80", "-h", "/var/www html"],
      entrypoint: ["/bin/sh", "-c"],
      env: { GREETING: "hi", COUNT: "2", DEBUG: "false" },
      ports: [
        { hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53, protocol: "udp" },
        { hostIp: "::1", hostPort: 9090, containerPort: 90, protocol: "tcp" },
      ],
      volumes: ["/data:/data:ro"],
      labels: { team: "a" },
      restart: "unless-stopped",
      memoryBytes: 64 * 1024 * 1024,
      cpus: 0.5,
      healthcheck: {
        test: ["CMD", "true"],
        intervalMs: 5000,
        timeoutMs: 90_000,
        retries: 3,
        startPeriodMs: 250,
      },
      placement: { nodes: ["local"] },
      heal: false,
      update: { maxParallel: 2, order: "start-first", failureAction: "rollback" },
    } satisfies ContainerSpec);
    expect(desired.balancers.front).toEqual({
      name: "front",
      node: "local",
      address: "127.0.0.1",
      port: 8443,
      protocol: "udp",
      alg: "wlc",
      backend: "ipvs",
      drainTimeoutMs: 90_000,
      backends: [
        { container: "web", port: 80, weight: 2 },
        { image: "local/busybox:1", port: 81, weight: 1 },
      ],
    });
    expect(desired.sources["containers.web"]).toMatchObject({ line: 13, column: 1 });
  });

  it("fills a minimal balancer's backend and drain defaults, and reads drain_timeout as a duration", async () => {
    const { desired, issues } = await loadText(
      "lb.toml",
      '[balancers.min]\naddress = "10.0.0.1:80"\n[balancers.quick]\naddress = "10.0.0.1:81"\ndrain_timeout = "5s"\n',
    );
    expect(issues).toEqual([]);
    expect(desired.balancers.min).toEqual({
      name: "min",
      address: "10.0.0.1",
      port: 80,
      protocol: "tcp",
      alg: "rr",
      backend: "auto",
      drainTimeoutMs: 30_000,
      backends: [],
    } satisfies BalancerSpec);
    expect(desired.balancers.quick).toMatchObject({ backend: "auto", drainTimeoutMs: 5000 });
  });

  it("refuses an algorithm nftables cannot run, at alg, naming the ones it can", async () => {
    const text = ["[balancers.front]", 'address = "10.0.0.1:80"', 'backend = "nftables"', 'alg = "lc"'].join(
      "\n",
    );
    const { issues, messages, desired } = await loadText("nft.toml", text);
    expect(issues.map((issue) => `${issue.path} ${issue.code}`)).toEqual([
      "balancers.front.alg INVALID_VALUE",
    ]);
    expect(messages).toEqual([
      'nft.toml:4:1: balancers.front.alg: nftables balances with "rr", "wrr", "sh", "dh", "random"; "lc" needs backend = "ipvs"',
    ]);
    expect(desired.balancers).toEqual({});
    const accepted = await loadText("nft.toml", text.replace('"lc"', '"sh"'));
    expect(accepted.issues).toEqual([]);
    expect(accepted.desired.balancers.front).toMatchObject({ backend: "nftables", alg: "sh" });
  });

  it("refuses random on a balancer forced to ipvs, at alg, naming IPVS's schedulers", async () => {
    const text = ["[balancers.front]", 'address = "10.0.0.1:80"', 'backend = "ipvs"', 'alg = "random"'].join(
      "\n",
    );
    const { issues, messages, desired } = await loadText("ipvs.toml", text);
    expect(issues.map((issue) => `${issue.path} ${issue.code}`)).toEqual([
      "balancers.front.alg INVALID_VALUE",
    ]);
    expect(messages).toEqual([
      'ipvs.toml:4:1: balancers.front.alg: IPVS balances with "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"; "random" needs backend = "nftables"',
    ]);
    expect(desired.balancers).toEqual({});
    const accepted = await loadText("ipvs.toml", text.replace('"random"', '"mh"'));
    expect(accepted.issues).toEqual([]);
    expect(accepted.desired.balancers.front).toMatchObject({ backend: "ipvs", alg: "mh" });
    const onNftables = await loadText("ipvs.toml", text.replace('"ipvs"', '"nftables"'));
    expect(onNftables.issues).toEqual([]);
  });

  it("fills defaults for a minimal container", async () => {
    const { desired, issues } = await loadText("min.toml", '[containers.web]\nimage = "local/busybox:1"\n');
    expect(issues).toEqual([]);
    expect(desired.containers.web).toEqual({
      name: "web",
      image: "local/busybox:1",
      replicas: 1,
      mode: "replicated",
      env: {},
      ports: [],
      volumes: [],
      labels: {},
      restart: "no",
      placement: {},
      heal: true,
      update: { maxParallel: 1, order: "stop-first", failureAction: "pause" },
    });
  });

  it("reads the same manifest from JSON and YAML into the same state", async () => {
    const toml = await loadText(
      "m.toml",
      '[containers.web]\nimage = "i"\nenv = ["A=1", "B=x=y"]\nmemory = 2048\n',
    );
    const json = await loadText(
      "m.json",
      '{"containers": {"web": {"image": "i", "env": ["A=1", "B=x=y"], "memory": 2048}}}',
    );
    const yaml = await loadText(
      "m.yaml",
      "containers:\n  web:\n    image: i\n    env: [A=1, B=x=y]\n    memory: 2048\n",
    );
    expect(toml.issues).toEqual([]);
    expect(toml.desired.containers.web?.env).toEqual({ A: "1", B: "x=y" });
    expect(json.desired.containers).toEqual(toml.desired.containers);
    expect(yaml.desired.containers).toEqual(toml.desired.containers);
  });

  it("words a bad whole number plainly, at the value's line and column", async () => {
    const { messages } = await loadText("web.toml", '[containers.web]\nimage = "i"\n  replicas = "three"\n');
    expect(messages).toEqual([
      'web.toml:3:3: containers.web.replicas: expected a whole number ≥ 0, got "three"',
    ]);
  });

  it("reports every field's type error at once, in source order", async () => {
    const text = [
      "[containers.web]", //1
      "image = 5", //2
      "replicas = -1", //3
      'mode = "sometimes"', //4
      "command = [1]", //5
      "env = { A = [1] }", //6
      'ports = ["80", "1.2.3.4:70000:80"]', //7
      'volumes = ["relative"]', //8
      'labels = { "treescale.node" = "x", ok = 1 }', //9
      'restart = "never"', //10
      'memory = "lots"', //11
      "cpus = 0", //12
      'healthcheck = { test = [], interval = "soon" }', //13
      'placement = { nodes = ["Bad_Name"] }', //14
      'heal = "yes"', //15
      'update = { max_parallel = 0, order = "random" }', //16
      "",
      "[balancers.front]", //18
      'address = "localhost"', //19
      'alg = "fastest"', //20
      "backends = [{ port = 80 }]", //21
      "",
      "[servers.a]", //23
      'ip = "300.1.1.1"', //24
      "service_port = 0", //25
    ].join("\n");
    const { messages } = await loadText("bad.toml", text);
    expect(messages).toEqual([
      'bad.toml:2:1: containers.web.image: expected an image reference such as "local/busybox:1", got 5',
      "bad.toml:3:1: containers.web.replicas: expected a whole number ≥ 0, got -1",
      'bad.toml:4:1: containers.web.mode: expected "replicated" or "global", got "sometimes"',
      "bad.toml:5:12: containers.web.command[0]: expected a string, got 1",
      "bad.toml:6:9: containers.web.env.A: expected a string, number or boolean, got a list",
      'bad.toml:7:10: containers.web.ports[0]: expected "[host_ip:]host:container[/tcp|udp]" with ports from 1 to 65535, got "80"',
      'bad.toml:7:16: containers.web.ports[1]: expected "[host_ip:]host:container[/tcp|udp]" with ports from 1 to 65535, got "1.2.3.4:70000:80"',
      'bad.toml:8:12: containers.web.volumes[0]: expected "source:/target[:ro|rw]", got "relative"',
      'bad.toml:9:12: containers.web.labels."treescale.node": label "treescale.node" is reserved: keys starting "treescale." belong to TreeScale',
      "bad.toml:9:36: containers.web.labels.ok: expected a string, got 1",
      'bad.toml:10:1: containers.web.restart: expected "no", "always", "unless-stopped", "on-failure", got "never"',
      'bad.toml:11:1: containers.web.memory: expected a size such as "64m" (b, k, m, g) or a number of bytes, got "lots"',
      "bad.toml:12:1: containers.web.cpus: expected a number of CPUs > 0, got 0",
      'bad.toml:13:17: containers.web.healthcheck.test: expected a command line or a non-empty list such as ["CMD", "true"], got an empty list',
      'bad.toml:13:28: containers.web.healthcheck.interval: expected a duration such as "5s" (ms, s, m, h) or a number of milliseconds, got "soon"',
      "bad.toml:14:24: containers.web.placement.nodes[0]: expected a lowercase name of letters, digits and '-' (at most 40, not starting or ending with '-'), got \"Bad_Name\"",
      'bad.toml:15:1: containers.web.heal: expected true or false, got "yes"',
      "bad.toml:16:12: containers.web.update.max_parallel: expected a whole number ≥ 1, got 0",
      'bad.toml:16:30: containers.web.update.order: expected "stop-first" or "start-first", got "random"',
      'bad.toml:19:1: balancers.front.address: expected "ip:port" such as "10.0.0.5:443" (IPv6 as "[::1]:443"), got "localhost"',
      'bad.toml:20:1: balancers.front.alg: expected "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "random", got "fastest"',
      'bad.toml:21:13: balancers.front.backends[0]: a backend selects containers by exactly one of "container" (a name) or "image"',
      'bad.toml:24:1: servers.a.ip: expected an IP address such as "10.0.0.5", got "300.1.1.1"',
      "bad.toml:25:1: servers.a.service_port: expected a whole number from 1 to 65535, got 0",
    ]);
  });

  it("names unknown fields and suggests the one meant", async () => {
    const { messages } = await loadText(
      "typo.yaml",
      "containers:\n  web:\n    image: i\n    replica: 3\n    update:\n      max_paralel: 2\nbalancer: {}\n",
    );
    expect(messages).toEqual([
      'typo.yaml:4:5: containers.web.replica: unknown field "replica"; did you mean "replicas"?',
      'typo.yaml:6:7: containers.web.update.max_paralel: unknown field "max_paralel"; did you mean "max_parallel"?',
      'typo.yaml:7:1: balancer: unknown field "balancer"; did you mean "balancers"?',
    ]);
  });

  it("rejects resource names that are not lowercase DNS labels", async () => {
    const long = "a".repeat(41);
    const { messages, desired } = await loadText(
      "names.json",
      JSON.stringify({
        containers: { Web: { image: "i" }, "-x": { image: "i" }, [long]: { image: "i" }, ok: { image: "i" } },
      }),
    );
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(
      /^names\.json:1:\d+: containers\.Web: invalid name: expected a lowercase name/,
    );
    expect(messages[1]).toContain("containers.-x: invalid name");
    expect(messages[2]).toContain(`containers.${long}: invalid name`);
    expect(Object.keys(desired.containers)).toEqual(["ok"]);
  });

  it("reports a non-table resource or kind", async () => {
    const { messages } = await loadText("shape.yaml", "containers:\n  web: 3\nservers: [a]\n");
    expect(messages).toEqual([
      "shape.yaml:2:3: containers.web: expected a table of container settings, got 3",
      "shape.yaml:3:1: servers: expected a table of servers keyed by name, got a list",
    ]);
  });

  it("reports an unbalanced quote in a command string", async () => {
    const { messages } = await loadText(
      "cmd.toml",
      '[containers.web]\nimage = "i"\ncommand = "sh -c \'echo"\n',
    );
    expect(messages).toEqual(["cmd.toml:3:1: containers.web.command: unbalanced quotes in the command line"]);
  });

  it("checks references: placement nodes, balancer node and backend containers", async () => {
    const text = [
      "[servers.node1]",
      'ip = "10.0.0.1"',
      "[containers.web]",
      'image = "i"',
      'placement = { nodes = ["nod1", "node1"] }',
      "[balancers.front]",
      'address = "10.0.0.1:80"',
      'node = "node2"',
      'backends = [{ container = "wbe", port = 80 }]',
    ].join("\n");
    const { messages } = await loadText("refs.toml", text);
    expect(messages).toEqual([
      'refs.toml:5:24: containers.web.placement.nodes[0]: no server named "nod1" is declared; did you mean "node1"?',
      'refs.toml:8:1: balancers.front.node: no server named "node2" is declared; did you mean "node1"?',
      'refs.toml:9:15: balancers.front.backends[0].container: no container named "wbe" is declared; did you mean "web"?',
    ]);
  });

  it("does not check node names when no servers are declared (the embedded node runs everything)", async () => {
    const { issues } = await loadText(
      "local.toml",
      '[containers.web]\nimage = "i"\nplacement = { nodes = ["local"] }\n',
    );
    expect(issues).toEqual([]);
  });

  it("checks the tree: undeclared children, self-parenting, two parents and cycles", async () => {
    const yaml = [
      "servers:",
      "  a: { ip: 10.0.0.1, childs: [b, ghost] }",
      "  b: { ip: 10.0.0.2, childs: [c] }",
      "  c: { ip: 10.0.0.3, childs: [a, c] }",
      "  d: { ip: 10.0.0.4, childs: [b] }",
    ].join("\n");
    const { messages } = await loadText("tree.yaml", yaml);
    expect(messages).toEqual([
      "tree.yaml:2:22: servers.a.childs: the tree has a cycle: a → b → c → a",
      'tree.yaml:2:34: servers.a.childs[1]: no server named "ghost" is declared',
      'tree.yaml:4:34: servers.c.childs[1]: server "c" cannot be its own child',
      'tree.yaml:5:31: servers.d.childs[0]: server "b" already has the parent "a"; a server has one parent',
    ]);
  });
});
