import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatIssue, loadManifests } from "../../../src/manifest/index.js";
import type { BalancerSpec } from "../../../src/model/resources.js";
import { loadText, writeTree } from "./support.js";

const SEED = "manifests/seed";

const node1 = {
  name: "node1",
  ip: "192.168.107.106",
  servicePort: 8888,
  tags: ["test_node", "first_node"],
  groups: [],
  childs: ["node2", "node3"],
};
const node2 = {
  name: "node2",
  ip: "192.168.107.107",
  servicePort: 8888,
  tags: ["test_node", "first_node"],
  groups: [],
  childs: [],
};
const seedBalancer = {
  name: "default",
  node: "node1",
  address: "192.168.107.106",
  port: 443,
  protocol: "tcp",
  alg: "rr",
  // The seed format has neither key: its balancer gets the native defaults.
  backend: "auto",
  drainTimeoutMs: 30_000,
  backends: [
    { image: "ubuntu/php:dev", port: 80, weight: 1 },
    { image: "ubuntu/php:test", port: 5556, weight: 1 },
  ],
} satisfies BalancerSpec;

describe("seed format", () => {
  it("loads the seed treescale.toml unchanged, keeping node3 as a pending child", async () => {
    const result = await loadManifests([`${SEED}/treescale.toml`]);
    expect(result.issues).toEqual([]);
    expect(result.desired.servers).toEqual({ node1, node2 });
    expect(result.desired.balancers).toEqual({ default: seedBalancer });
    expect(result.desired.containers).toEqual({});
    expect(result.currentNode).toBeUndefined();
    expect(result.desired.sources).toEqual({
      "servers.node1": { file: `${SEED}/treescale.toml`, line: 5, column: 5 },
      "servers.node2": { file: `${SEED}/treescale.toml`, line: 20, column: 5 },
      "balancers.default": { file: `${SEED}/treescale.toml`, line: 11, column: 5 },
    });
  });

  it("loads console.toml with its tree and merges [ssh.X] into the servers", async () => {
    const result = await loadManifests([`${SEED}/console.toml`]);
    expect(result.issues).toEqual([]);
    expect(result.files).toEqual([`${SEED}/console.toml`, `${SEED}/treescale.toml`]);
    expect(result.desired.servers).toEqual({
      node1: { ...node1, ssh: { host: "192.168.107.106", port: 22, keyFile: resolve(SEED, "ssh_key.pem") } },
      node2: { ...node2, ssh: { host: "192.168.107.107", port: 22, user: "treescale", password: "tree" } },
    });
    expect(result.desired.balancers).toEqual({ default: seedBalancer });
  });

  it("loads the seed directory once even though console.toml names treescale.toml too", async () => {
    const result = await loadManifests([SEED]);
    expect(result.issues).toEqual([]);
    expect(result.files).toEqual([`${SEED}/console.toml`, `${SEED}/treescale.toml`]);
    expect(result.desired.servers.node2?.ssh?.user).toBe("treescale");
  });

  it("exposes a non-empty current_node", async () => {
    const { currentNode, issues } = await loadText(
      "t.toml",
      'current_node = "node1"\n[servers.node1]\nip = "10.0.0.1"\n',
    );
    expect(issues).toEqual([]);
    expect(currentNode).toBe("node1");
  });

  it("leaves the balancer without a node when no server has its ip", async () => {
    const { desired, issues } = await loadText(
      "t.toml",
      '[balancers]\naddress = "10.9.9.9:80"\n[containers]\n"nginx:1" = 8080\n',
    );
    expect(issues).toEqual([]);
    expect(desired.balancers.default).toEqual({
      name: "default",
      address: "10.9.9.9",
      port: 80,
      protocol: "tcp",
      alg: "rr",
      backend: "auto",
      drainTimeoutMs: 30_000,
      backends: [{ image: "nginx:1", port: 8080, weight: 1 }],
    });
  });

  it("locates seed errors in the seed file's own terms", async () => {
    const text = [
      'current_node = ""', //1
      "[servers.node1]", //2
      'name = "other"', //3
      'ip = "10.0.0.1"', //4
      "[balancers]", //5
      'address = "10.0.0.1:99999"', //6
      'algo = "rr"', //7
      "[containers]", //8
      '"ubuntu/php:dev" = 0', //9
    ].join("\n");
    const { messages } = await loadText("seed.toml", text);
    expect(messages).toEqual([
      'seed.toml:3:1: servers.node1.name: name "other" differs from the table\'s name "node1"',
      'seed.toml:6:1: balancers.address: expected "ip:port" such as "10.0.0.5:443" (IPv6 as "[::1]:443"), got "10.0.0.1:99999"',
      'seed.toml:7:1: balancers.algo: unknown field "algo"; did you mean "alg"?',
      'seed.toml:9:1: containers."ubuntu/php:dev": expected a whole number from 1 to 65535, got 0',
    ]);
  });

  it("reports console.toml problems: a missing tree, ssh for an unknown server, a bad port", async () => {
    const dir = await writeTree({
      "console.toml": 'tree = "missing.toml"\n[ssh.ghost]\nhost = "h"\n[ssh.other]\nport = "twenty"\n',
    });
    const result = await loadManifests([`${dir}/console.toml`]);
    expect(result.issues.map((issue) => formatIssue({ ...issue, file: "console.toml" }))).toEqual([
      "console.toml:1:1: tree: no such file or directory",
      'console.toml:2:1: ssh.ghost: no server named "ghost" is declared',
      'console.toml:5:1: ssh.other.port: expected a whole number from 1 to 65535, got "twenty"',
    ]);
  });

  it("still treats undeclared children as errors in the native format", async () => {
    const { messages } = await loadText("n.toml", '[servers.node1]\nip = "10.0.0.1"\nchilds = ["node3"]\n');
    expect(messages).toEqual([
      'n.toml:3:11: servers.node1.childs[0]: no server named "node3" is declared; did you mean "node1"?',
    ]);
  });
});
