// Ctrl-C during `apply` says what was done and what was not, node by node, and exits 130: the
// embedded node stops starting actions and says what it left; through a running node, the node
// carries on converging the slice it accepted. `events` ends at once on Ctrl-C. Real processes,
// real signals, real dockerd.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../support/bus.js";
import {
  CLI,
  callerEnvironment,
  type RunningCli,
  requireBuild,
  resultOf,
  runCli,
  scratch,
  startCli,
} from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";
import { engineProxy } from "../support/engine-proxy.js";
import { eventually } from "../support/poll.js";

const docker = new Docker();
const fixture = new BusFixture();
const embeddedNode = uniqueNodeName("ie");
const daemonNode = uniqueNodeName("id");
const REPLICAS = 12;
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
let daemon: NodeProcess;

// One action at a time (--parallel 1), so the first one done comes well before the last.
const app = `
[containers.web]
image = "${TEST_IMAGE}"
replicas = ${REPLICAS}
command = ["sh", "-c", "while true; do sleep 1; done"]
`;

const start = (args: string[]) => startCli(args, env);

/** Ctrl-C as soon as the first action is reported done. */
async function interruptAfterFirstAction(running: RunningCli): Promise<void> {
  await eventually(async () => (/\] \S+: create done/.test(running.stderr()) ? true : undefined), 60_000);
  running.child.kill("SIGINT");
}

async function containersOf(node: string): Promise<{ names: string[]; running: number }> {
  const list = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${node}`] } });
  return {
    names: list.map((c) => c.Names[0]!.replace(/^\//, "")).sort(),
    running: list.filter((c) => c.State === "running").length,
  };
}

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  await fixture.setup();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await work.write("app/web.toml", app);
  daemon = await fixture.startNode(daemonNode, [
    "--agent",
    "--home",
    join(fixture.dir, "home"),
    "--stop-timeout",
    "0",
    "--parallel",
    "1",
    "--heartbeat",
    "1000",
  ]);
}, 60_000);

afterAll(async () => {
  await fixture.teardown();
  await Promise.all([removeContainersOfNode(embeddedNode), removeContainersOfNode(daemonNode)]);
  await work?.remove();
});

describe("Ctrl-C during apply", () => {
  it("on the embedded node: lists done / not started, stops, exits 130; a re-apply converges without duplicates", async () => {
    const applyArgs = ["apply", "--name", embeddedNode, "--stop-timeout", "0", "-f", join(work.dir, "app")];
    const running = start([...applyArgs, "--parallel", "1"]);
    await interruptAfterFirstAction(running);
    const { code, stdout } = await running.done;
    expect(code).toBe(130);
    expect(stdout).toContain("Interrupted: apply of stack app");
    expect(stdout).toContain(`node ${embeddedNode}: stopped with this command`);
    expect(stdout).toMatch(/✓ create \S+: done/);
    expect(stdout).toMatch(/· create \S+: not started/);
    expect(stdout).toContain("The embedded node stopped: it started nothing more");
    const done = stdout.match(/✓ create \S+: done/g)?.length ?? 0;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(REPLICAS);

    const again = await runCli(applyArgs, { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Stack app converged.");
    const after = await containersOf(embeddedNode);
    expect(after.names).toHaveLength(REPLICAS);
    expect(new Set(after.names).size).toBe(REPLICAS);
    expect(after.running).toBe(REPLICAS);
  }, 90_000);

  it("through a node: says the node carries on, exits 130; `get status` later shows it converged", async () => {
    const through = ["--node", daemon.url, "--token", "good-token"];
    const running = start(["apply", ...through, "-f", join(work.dir, "app")]);
    await interruptAfterFirstAction(running);
    const { code, stdout } = await running.done;
    expect(code).toBe(130);
    expect(stdout).toContain(`node ${daemonNode}: accepted generation`);
    expect(stdout).toContain("its agent carries on converging it");
    expect(stdout).toMatch(/✓ create \S+: done/);
    expect(stdout).toContain("Follow them with `treescale get status -w` or `treescale events`.");

    const status = await eventually(async () => {
      const out = await runCli(["get", "status", ...through, "-o", "json"]);
      const rows = JSON.parse(out.stdout) as { resource: string; condition: string; ready: string }[];
      const web = rows.find((r) => r.resource === "container/web");
      return web?.condition === "Ready" ? web : undefined;
    }, 60_000);
    expect(status.ready).toBe(`${REPLICAS}/${REPLICAS}`);
    const after = await containersOf(daemonNode);
    expect(after.names).toHaveLength(REPLICAS);
    expect(after.running).toBe(REPLICAS);
  }, 90_000);
});

describe("a second Ctrl-C during apply", () => {
  it("exits at once, without waiting for the first one's summary", async () => {
    const node = uniqueNodeName("i2");
    // The engine behind a proxy the test freezes: the first Ctrl-C then waits on an engine that does not
    // answer (about a second here), which leaves room for the second one to be seen cutting it short.
    const proxy = await engineProxy(join(work.dir, `${node}.sock`));
    const child = spawn(
      process.execPath,
      [CLI, "apply", "--name", node, "--stop-timeout", "0", "--parallel", "1", "-f", join(work.dir, "app")],
      {
        env: { ...callerEnvironment(), ...env, DOCKER_HOST: proxy.dockerHost },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const done = resultOf(child);
    let err = "";
    let secondAt = 0;
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      if (secondAt > 0 || !err.includes("Interrupted: starting nothing more")) return;
      // Held still right as the first Ctrl-C is acknowledged, so that its summary cannot be printed before
      // the second signal is pending; on resuming, that signal is what it meets.
      child.kill("SIGSTOP");
      child.kill("SIGINT");
      secondAt = Date.now();
      child.kill("SIGCONT");
    });
    try {
      await eventually(async () => (/\] \S+: create done/.test(err) ? true : undefined), 60_000);
      proxy.freeze();
      child.kill("SIGINT");
      const { code, stdout } = await done;
      expect(secondAt).toBeGreaterThan(0);
      expect(code).toBe(130);
      expect(Date.now() - secondAt).toBeLessThan(3000);
      // The first Ctrl-C's summary is what the second one does not wait for.
      expect(stdout).not.toContain("Interrupted: apply of stack");
    } finally {
      child.kill("SIGCONT");
      // Closed still frozen: a create it held never reaches the engine to leave a container behind.
      await proxy.close();
      await removeContainersOfNode(node);
    }
  }, 90_000);
});

describe("Ctrl-C before the apply phase", () => {
  it("while connecting: exits 130 at once, saying nothing was applied", async () => {
    // Accepts and never answers: the CLI stays in its connecting phase.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    const accepted = new Promise<void>((resolve) => {
      silent.once("connection", () => resolve());
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as { port: number };
      const running = start([
        ...["apply", "-f", join(work.dir, "app"), "--node", `127.0.0.1:${port}`, "--connect-timeout", "30"],
      ]);
      await accepted;
      const at = Date.now();
      running.child.kill("SIGINT");
      const { code, stderr } = await running.done;
      expect(code).toBe(130);
      expect(stderr).toContain(
        "Interrupted while connecting: nothing was applied (no node was sent anything).",
      );
      expect(Date.now() - at).toBeLessThan(3000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("while planning (gathering the nodes' state): exits 130, nothing sent; -o json says so on stdout", async () => {
    const bare = await fixture.startNode(uniqueNodeName("ib"), ["--heartbeat", "1000"]);
    // Answers nothing: it only sees the state request that tells that the CLI is planning, and would see
    // a slice sent to this node.
    const observer = await fixture.client(bare, { events: ["agent.state", "agent.apply"] });
    const seen: string[] = [];
    const asked = new Promise<void>((resolve) =>
      observer.onMessage((message) => {
        seen.push(message.event);
        if (message.event === "agent.state") resolve();
      }),
    );
    const running = start([
      ...["apply", "-f", join(work.dir, "app"), "-o", "json"],
      ...["--node", bare.url, "--token", "good-token"],
    ]);
    await asked;
    running.child.kill("SIGINT");
    const { code, stdout, stderr } = await running.done;
    expect(code).toBe(130);
    expect(stderr).toContain("Interrupted while planning: nothing was applied (no node was sent anything).");
    expect(JSON.parse(stdout)).toEqual({ interrupted: true, phase: "planning", applied: false });
    expect(seen).not.toContain("agent.apply");
  });
});

describe("Ctrl-C during events", () => {
  it("ends at once with 130, as logs -f does", async () => {
    const running = start(["events", "--name", embeddedNode]);
    await eventually(async () => (running.stderr().includes("connected to") ? true : undefined), 30_000);
    const at = Date.now();
    running.child.kill("SIGINT");
    const { code } = await running.done;
    expect(code).toBe(130);
    expect(Date.now() - at).toBeLessThan(3000);
  }, 60_000);
});
