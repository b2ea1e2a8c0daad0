// The balancer on nftables, for real: busybox httpd containers answering their own names behind a
// virtual address on the Docker bridge's subnet (an address no host holds, so traffic only ever reaches
// the containers started here), applied with the CLI as a user would. Round robin alternates,
// weights hold, source hashing sticks, a removed backend leaves the rotation, a rule changed by hand is
// put back and reported, re-apply changes nothing, and a table that is not TreeScale's is never touched;
// and a backend leaving stops getting new connections while its open ones go on. One file, so the
// tests that share the kernel's table run one after another.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bridgeVip, removeService } from "../../support/balancer.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { applyThrough, CLI, requireBuild, runCli, scratch } from "../../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";
import { freePort } from "../../support/net.js";
import { pollUntil } from "../../support/poll.js";

const docker = new Docker();
const node = uniqueNodeName("lb");
const STACK = "lbtest";
const FOREIGN = "foreign-test-table";
let work: Awaited<ReturnType<typeof scratch>>;
let vip = "";
let env: Record<string, string>;

const manifest = (balancer: string, replicas = 2) => `
stack = "${STACK}"
[containers.web]
image = "${TEST_IMAGE}"
replicas = ${replicas}
command = ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]

[containers.api]
image = "${TEST_IMAGE}"
command = ["sh", "-c", "mkdir -p /www && echo api-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]

[balancers.front]
address = "${vip}:8080"
${balancer}
`;

async function apply(balancer: string, ...args: string[]) {
  await work.write("app/app.toml", manifest(balancer));
  return runCli(["apply", "--name", node, "--stop-timeout", "0", "-f", join(work.dir, "app"), ...args], {
    env,
  });
}

/** One GET to the virtual address from this host: the body is the answering container's name. */
function get(): Promise<string> {
  return getFrom(vip);
}

async function bodies(count: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < count; i++) seen.push(await get());
  return seen;
}

const ours = () => execFileSync("nft", ["list", "table", "ip", "treescale"]).toString();
const foreign = () => execFileSync("nft", ["list", "table", "ip", FOREIGN]).toString();

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  await mkdir(join(work.dir, "app"));
  env = { TREESCALE_HOME: join(work.dir, "home") };
  // An address in the bridge's subnet that no container holds: DNAT sends it to the backends.
  vip = await bridgeVip(255, 200);
  execFileSync("nft", ["-f", "-"], {
    input: `table ip ${FOREIGN} {\n  chain keep { comment "not TreeScale's"; }\n}\n`,
  });
}, 60_000);

afterAll(async () => {
  await removeContainersOfNode(node);
  execFileSync("nft", ["delete", "table", "ip", FOREIGN]);
  // Only this test's service: another test's may share the table.
  removeService(STACK, "front", vip, 8080);
  await work?.remove();
});

describe("balancer on nftables (real rules, real traffic)", () => {
  it("rr: prints the balancer in the plan, converges, and alternates exactly between the backends", async () => {
    const result = await apply('alg = "rr"\nbackends = [{ container = "web", port = 80 }]');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`\\+ balancer\\s+front\\s+${vip.replaceAll(".", "\\.")}:8080 rr`),
    );
    const seen = await bodies(6);
    expect(new Set(seen).size).toBe(2);
    for (let i = 2; i < seen.length; i++) expect(seen[i]).toBe(seen[i - 2]);
    expect(seen[0]).not.toBe(seen[1]);
    const rows = JSON.parse(
      (await runCli(["get", "balancers", "--name", node, "--stack", STACK, "-o", "json"], { env })).stdout,
    );
    expect(rows).toMatchObject([
      { name: "front", stack: STACK, address: `${vip}:8080/tcp`, backend: "nftables", alg: "rr" },
    ]);
    expect(rows[0].backends).toHaveLength(2);
  });

  it("re-apply changes nothing: same ruleset bytes, exit 0, no changes planned", async () => {
    const before = ours();
    const result = await apply('alg = "rr"\nbackends = [{ container = "web", port = 80 }]');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("No changes.");
    expect(ours()).toBe(before);
  });

  it("wrr: weights 2:1 over 300 requests; sh: one client always reaches the same backend", async () => {
    const wrr = await apply(
      'alg = "wrr"\nbackends = [{ container = "web", port = 80, weight = 2 }, { container = "api", port = 80, weight = 1 }]',
    );
    expect(wrr.code, wrr.stdout + wrr.stderr).toBe(0);
    // Weights are per endpoint: each web replica weighs 2, the one api replica 1 (120 : 120 : 60).
    const seen = await bodies(300);
    const counts = new Map<string, number>();
    for (const body of seen) counts.set(body, (counts.get(body) ?? 0) + 1);
    const api = [...counts].filter(([body]) => body.startsWith("api-")).map(([, n]) => n);
    const web = [...counts].filter(([body]) => !body.startsWith("api-")).map(([, n]) => n);
    expect(api).toHaveLength(1);
    expect(web).toHaveLength(2);
    for (const n of web) expect(n / api[0]!).toBeCloseTo(2, 0);

    const sh = await apply('alg = "sh"\nbackends = [{ container = "web", port = 80 }]');
    expect(sh.code, sh.stdout + sh.stderr).toBe(0);
    expect(new Set(await bodies(20)).size).toBe(1);
  });

  it("a backend removed with docker rm -f leaves the rotation, its replacement joins it; a rule flushed by hand is put back and reported as drift", async () => {
    expect((await apply('alg = "rr"\nbackends = [{ container = "web", port = 80 }]')).code).toBe(0);
    const events: ChildProcess = spawn(
      process.execPath,
      [CLI, "events", "--name", node, "--event", "drift", "-o", "json"],
      {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const drifts: { data: { resource: string } }[] = [];
    createInterface({ input: events.stdout! }).on("line", (line) => drifts.push(JSON.parse(line)));
    try {
      await new Promise<void>((resolve) =>
        createInterface({ input: events.stderr! }).once("line", () => resolve()),
      );
      const [victim] = await docker.listContainers({
        filters: { label: [`treescale.node=${node}`, "treescale.resource=web"] },
      });
      const gone = victim!.NetworkSettings.Networks.bridge?.IPAddress ?? "";
      await docker.getContainer(victim!.Id).remove({ force: true });
      // The agent heals the container and re-programs the balancer with the replacement's address.
      await pollUntil(
        async () => ours(),
        (rules) => !rules.includes(`${gone} . 80`) && (rules.match(/ \. 80(?!\d)/g) ?? []).length === 2,
        10_000,
      );
      const seenAfterHeal = await bodies(6).catch((error: unknown) => {
        throw new Error(
          `${String(error)}\n${ours()}\n${execFileSync("docker", ["ps", "--format", "{{.Names}} {{.Networks}} {{.Status}}"]).toString()}`,
        );
      });
      expect(new Set(seenAfterHeal).size).toBe(2);

      const chain = () =>
        execFileSync("nft", ["list", "chain", "ip", "treescale", `svc_${STACK}_front`]).toString();
      execFileSync("nft", ["flush", "chain", "ip", "treescale", `svc_${STACK}_front`]);
      // This service's chain, not the table: another service's rule reads the same.
      await pollUntil(
        async () => chain(),
        (rules) => rules.includes('comment "treescale rr"'),
        10_000,
      );
      await pollUntil(
        async () => drifts,
        (seen) => seen.some((d) => d.data.resource === "balancer/front"),
        5000,
      );
      expect(new Set(await bodies(4)).size).toBe(2);
    } finally {
      const exited = new Promise((resolve) => events.once("exit", resolve));
      events.kill("SIGTERM");
      await exited;
    }
  });

  it("a table that is not TreeScale's is left as it was by apply, re-apply and prune", async () => {
    const before = foreign();
    await work.write("app/app.toml", `stack = "${STACK}"\n`);
    const pruned = await runCli(
      [
        "apply",
        "--name",
        node,
        "--stop-timeout",
        "0",
        "--prune",
        "--allow-empty",
        "-f",
        join(work.dir, "app"),
      ],
      { env },
    );
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/- balancer\s+front\s+left the manifests/);
    expect(ours()).not.toContain(`svc_${STACK}_front`);
    expect(foreign()).toBe(before);
  });
});

const drainNode = uniqueNodeName("lbd");
const DRAIN_STACK = "draintest";
let drainWork: Awaited<ReturnType<typeof scratch>>;
let drainVip = "";
let drainEnv: Record<string, string>;
const sockets: Socket[] = [];

/** An echo server that first says which container it is: its hostname, then everything it is sent. */
const ECHO = `["sh", "-c", "printf '#!/bin/sh\\\\nhostname\\\\nexec cat\\\\n' > /echo && chmod +x /echo && exec nc -ll -p 81 -e /echo"]`;

async function applyEcho(target: string) {
  await drainWork.write(
    "app/app.toml",
    `stack = "${DRAIN_STACK}"
[containers.first]
image = "${TEST_IMAGE}"
command = ${ECHO}

[containers.second]
image = "${TEST_IMAGE}"
command = ${ECHO}

[balancers.echo]
address = "${drainVip}:9090"
backends = [{ container = "${target}", port = 81 }]
`,
  );
  return runCli(["apply", "--name", drainNode, "--stop-timeout", "0", "-f", join(drainWork.dir, "app")], {
    env: drainEnv,
  });
}

/** A connection through the virtual address, and a way to read its next line. */
async function open(): Promise<{ socket: Socket; line(): Promise<string> }> {
  const socket = connect({ host: drainVip, port: 9090 });
  sockets.push(socket);
  const lines: string[] = [];
  let buffered = "";
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let end = buffered.indexOf("\n");
    while (end >= 0) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf("\n");
    }
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const line = async () => {
    const deadline = Date.now() + 5000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error("no line within 5 s");
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return lines.shift() ?? "";
  };
  return { socket, line };
}

describe("a backend leaving a balancer (nftables)", () => {
  beforeAll(async () => {
    requireBuild();
    await ensureTestImage();
    drainWork = await scratch();
    await mkdir(join(drainWork.dir, "app"));
    drainEnv = { TREESCALE_HOME: join(drainWork.dir, "home") };
    drainVip = await bridgeVip(254, 100);
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await removeContainersOfNode(drainNode);
    removeService(DRAIN_STACK, "echo", drainVip, 9090);
    await drainWork?.remove();
  });

  it("gets no new connections at once, and its open connection goes on", async () => {
    const first = await applyEcho("first");
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const old = await open();
    const firstHost = await old.line();
    old.socket.write("ping\n");
    expect(await old.line()).toBe("ping");

    const moved = await applyEcho("second");
    expect(moved.code, moved.stdout + moved.stderr).toBe(0);
    const fresh = await open();
    const secondHost = await fresh.line();
    expect(secondHost).not.toBe(firstHost);

    old.socket.write("still there\n");
    expect(await old.line()).toBe("still there");
  });
});

const rollNode = uniqueNodeName("lbroll");
const ROLL_STACK = "lbroll";
let rollWork: Awaited<ReturnType<typeof scratch>>;
let rollEnv: Record<string, string>;
let rollVip = "";

async function applyVersion(version: string) {
  await rollWork.write(
    "app/app.toml",
    `stack = "${ROLL_STACK}"
[containers.web]
image = "${TEST_IMAGE}"
replicas = 2
env = { VERSION = "${version}" }
command = ["sh", "-c", "mkdir -p /www && echo $VERSION > /www/index.html && exec httpd -f -p 80 -h /www"]
healthcheck = { test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"], interval = "1s" }
update = { max_parallel = 1 }

[balancers.front]
address = "${rollVip}:8080"
alg = "rr"
drain_timeout = "10s"
backends = [{ container = "web", port = 80 }]
`,
  );
  return runCli(["apply", "--name", rollNode, "--stop-timeout", "0", "-f", join(rollWork.dir, "app")], {
    env: rollEnv,
  });
}

/** GETs the virtual address one after another until stopped: every body, and every failure. */
function requestLoop(address: string) {
  const bodies: string[] = [];
  const failures: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      try {
        bodies.push(await getFrom(address));
      } catch (error) {
        failures.push(`${new Date().toISOString()} ${String(error)}`);
      }
    }
  })();
  return {
    bodies,
    failures,
    async stop() {
      running = false;
      await done;
    },
  };
}

describe("a rolling recreate behind a balancer (nftables)", () => {
  beforeAll(async () => {
    requireBuild();
    await ensureTestImage();
    rollWork = await scratch();
    await mkdir(join(rollWork.dir, "app"));
    rollEnv = { TREESCALE_HOME: join(rollWork.dir, "home") };
    rollVip = await bridgeVip(253, 150);
  }, 60_000);

  afterAll(async () => {
    await removeContainersOfNode(rollNode);
    removeService(ROLL_STACK, "front", rollVip, 8080);
    await rollWork?.remove();
  });

  it("drains each replica before stopping it and admits its replacement once healthy: no request fails", async () => {
    const first = await applyVersion("v1");
    expect(first.code, first.stdout + first.stderr).toBe(0);
    await pollUntil(
      async () => new Set(await Promise.all([0, 1, 2, 3].map(() => getFrom(rollVip)))),
      (seen) => seen.has("v1"),
      10_000,
    );
    const loop = requestLoop(rollVip);
    let rolled: Awaited<ReturnType<typeof runCli>>;
    try {
      rolled = await applyVersion("v2");
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await loop.stop();
    }
    expect(rolled.code, rolled.stdout + rolled.stderr).toBe(0);
    expect(rolled.stdout).toMatch(/recreate/);
    expect(
      loop.failures,
      `${loop.failures.length} of ${loop.bodies.length + loop.failures.length} failed`,
    ).toEqual([]);
    expect(loop.bodies.length).toBeGreaterThan(20);
    expect(loop.bodies).toContain("v1");
    expect(loop.bodies.at(-1)).toBe("v2");
  });
});

/** One GET to a virtual address on port 8080: the body, or a failure for anything but 200. */
function getFrom(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // 10 s: a connection sent to a stopped backend, to no backend, or whose replies are lost (the
    // bridge MAC that moved before the balancer pinned it) never answers and still times out; a live
    // backend slow under a loaded full suite does not.
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what}@${Date.now() - t0}`);
    const req = request({ host: address, port: 8080, path: "/", agent: false, timeout: 10_000 }, (res) => {
      mark("response");
      res.on("end", () => mark("resend"));
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on("timeout", () => {
      // Where the kernel sent this connection: what tells a backend stopped too soon from a slow one.
      const port = req.socket?.localPort;
      const entry = readFileSync("/proc/net/nf_conntrack", "utf8")
        .split("\n")
        .filter((line) => port !== undefined && line.includes(`sport=${port} dport=8080`));
      req.destroy(
        new Error(
          `timed out (port ${port}; marks ${marks.join(",")} conntrack: ${entry.join(" | ") || "none"})`,
        ),
      );
    });
    req.on("socket", (socket) => {
      mark("socket");
      socket.on("connect", () => mark("connect"));
      socket.on("data", (d: Buffer) => mark(`data${d.length}`));
      socket.on("end", () => mark("end"));
      socket.on("close", () => mark("close"));
      socket.on("finish", () => mark("finish"));
    });
    req.on("finish", () => mark("reqfinish"));
    req.on("error", reject);
    req.end();
  });
}

const tree = new BusFixture();
const treeNames = { root: uniqueNodeName("lbtop"), child: uniqueNodeName("lbsub") };
const TREE_STACK = "lbtree";
let treeVip = "";
let top: NodeProcess;
let sub: NodeProcess;
let treeManifests = "";

describe("a balancer over containers on a child server (two real nodes)", () => {
  beforeAll(async () => {
    await ensureTestImage();
    await tree.setup();
    treeVip = await bridgeVip(252, 100);
    const start = (name: string, ...args: string[]) =>
      // A heartbeat of a second, not the bus fixture's 100 ms: the CLI's link must outlast a loaded machine.
      tree.startNode(name, ["--agent", "--home", join(tree.dir, name), "--heartbeat", "1000", ...args]);
    top = await start(treeNames.root, "--tag", "core");
    sub = await start(treeNames.child, "--tag", "web", "--parent", top.url);
    await sub.waitForLog(/linked to parent/);
    treeManifests = join(tree.dir, "app");
    await mkdir(treeManifests);
    const page = (body: string) =>
      `["sh", "-c", "mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www"]`;
    await writeFile(
      join(treeManifests, "app.toml"),
      `stack = "${TREE_STACK}"
[servers.${treeNames.root}]
ip = "127.0.0.1"
service_port = ${top.port}
tags = ["core"]
childs = ["${treeNames.child}"]

[servers.${treeNames.child}]
ip = "127.0.0.1"
service_port = ${sub.port}
tags = ["web"]

[containers.home]
image = "${TEST_IMAGE}"
command = ${page("on-the-balancer-node")}
placement = { tags = ["core"] }

[containers.away]
image = "${TEST_IMAGE}"
command = ${page("on-the-child")}
placement = { tags = ["web"] }
ports = ["${await freePort()}:80"]

[balancers.front]
node = "${treeNames.root}"
address = "${treeVip}:8080"
alg = "rr"
backends = [{ container = "home", port = 80 }, { container = "away", port = 80 }]
`,
    );
  }, 60_000);

  afterAll(async () => {
    await tree.teardown();
    await Promise.all(Object.values(treeNames).map(removeContainersOfNode));
    removeService(TREE_STACK, "front", treeVip, 8080);
  });

  it("spreads over its own node's container and the child's, through the child's published port, and drops the child's when that node goes away", async () => {
    const applied = await applyThrough(top.url, treeManifests, "--stop-timeout", "0");
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const spread = await pollUntil(
      async () => Promise.all([0, 1, 2, 3].map(() => getFrom(treeVip).catch((e: unknown) => String(e)))),
      (seen) => new Set(seen).size === 2 && seen.every((b) => b.startsWith("on-the-")),
      15_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${ours()}`);
    });
    expect(new Set(spread)).toEqual(new Set(["on-the-balancer-node", "on-the-child"]));
    expect(ours()).toMatch(/ct mark set ct mark \| 0x00010000 .*127\.0\.0\.1 \. \d+/);

    // The child node goes away (its container keeps running, but nothing tells about it any more).
    await sub.stop();
    const after = await pollUntil(
      async () => Promise.all([0, 1, 2, 3].map(() => getFrom(treeVip).catch((e: unknown) => String(e)))),
      (seen) => seen.every((b) => b === "on-the-balancer-node"),
      10_000,
    );
    expect(after).toEqual(Array(4).fill("on-the-balancer-node"));
  });
});
