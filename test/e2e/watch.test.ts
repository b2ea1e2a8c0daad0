// `treescale watch` as a user runs it, on the embedded node against the real dockerd.
import { type ChildProcess, spawn } from "node:child_process";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerName } from "../../src/model/labels.js";
import { CLI, requireBuild, runCli, scratch } from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

const docker = new Docker();
const node = uniqueNodeName("watch");
let work: Awaited<ReturnType<typeof scratch>>;
/** Watch and apply name the stack, so applies from another directory change the same one. */
const cname = (replica: number) => containerName("app", node, "app", replica);
let watcher: ChildProcess;
const lines: string[] = [];
let waiters: (() => void)[] = [];

const manifest = (replicas: number) => `[containers.app]
image = "${TEST_IMAGE}"
replicas = ${replicas}
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`;

async function running(): Promise<string[]> {
  const list = await docker.listContainers({
    filters: { label: [`treescale.node=${node}`], status: ["running"] },
  });
  return list.map((c) => c.Names[0]!.slice(1)).sort();
}

/** Waits for the n-th log line (counting from `from`) matching the pattern. */
async function logLine(pattern: RegExp, from: number, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index >= 0) return index;
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern}; log:\n${lines.join("\n")}`);
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 100);
    });
  }
}

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  await work.write("app.toml", manifest(1));
  watcher = spawn(
    process.execPath,
    [CLI, "watch", "--name", node, "--stack", "app", "--debounce", "100", "-f", work.dir],
    {
      env: { ...process.env, TREESCALE_HOME: join(work.dir, ".home") },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  for (const stream of [watcher.stdout!, watcher.stderr!]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      for (const wake of waiters) wake();
      waiters = [];
    });
  }
});

afterAll(async () => {
  if (watcher.exitCode === null) watcher.kill("SIGKILL");
  await removeContainersOfNode(node);
  await work.remove();
});

describe("treescale watch (embedded node)", () => {
  let mark = 0;

  it("applies the manifests at start", async () => {
    mark = await logLine(/applied: converged/, 0);
    expect(await running()).toEqual([cname(1)]);
  });

  it("re-applies an edited file, including an editor's atomic save (write then rename)", async () => {
    await work.write(".app.toml.tmp", manifest(2));
    await rename(join(work.dir, ".app.toml.tmp"), join(work.dir, "app.toml"));
    mark = await logLine(/applied: converged/, mark + 1);
    expect(await running()).toEqual([cname(1), cname(2)]);
  });

  it("ignores a broken file, keeps the last good state, and applies once it is fixed", async () => {
    await work.write("app.toml", `${manifest(3)}\nreplicas = "oops"\n`);
    const invalid = await logLine(
      /manifests invalid .*nothing applied; the last good state stays in force/,
      mark + 1,
    );
    expect(lines.slice(mark, invalid).some((line) => line.includes("app.toml:"))).toBe(true);
    expect(await running()).toEqual([cname(1), cname(2)]);
    await work.write("app.toml", manifest(3));
    mark = await logLine(/applied: converged/, invalid + 1);
    expect(await running()).toEqual([cname(1), cname(2), cname(3)]);
  });

  it("heals drift between changes; `events` without --node joins the embedded node and prints it", async () => {
    const events = spawn(
      process.execPath,
      [CLI, "events", "--name", node, "--event", "drift", "-o", "json"],
      {
        env: { ...process.env, TREESCALE_HOME: join(work.dir, ".home") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const drift = new Promise<{ event: string; data: { node: string; stack: string; resource: string } }>(
      (resolve) => {
        createInterface({ input: events.stdout! }).once("line", (line) => resolve(JSON.parse(line)));
      },
    );
    await new Promise<void>((resolve) =>
      createInterface({ input: events.stderr! }).once("line", () => resolve()),
    );
    try {
      const [victim] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
      await docker.getContainer(victim!.Id).remove({ force: true });
      expect(await drift).toMatchObject({
        event: "drift",
        data: { node, stack: "app", resource: "container/app" },
      });
    } finally {
      const exited = new Promise((resolve) => events.once("exit", resolve));
      events.kill("SIGTERM");
      await exited;
    }
    const deadline = Date.now() + 5000;
    while ((await running()).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await running()).toHaveLength(3);
  });

  it("apply without --node goes through the running embedded node, so its agent keeps the new state", async () => {
    // Declared servers other than the embedded node are ignored by it, not reported unreachable.
    const elsewhere = await scratch({
      "app.toml": `${manifest(2)}\n[servers.${node}]\nip = "127.0.0.1"\n\n[servers.far-away]\nip = "127.0.0.2"\n`,
    });
    try {
      const result = await runCli(["apply", "--name", node, "--stack", "app", "-f", elsewhere.dir], {
        env: { TREESCALE_HOME: join(work.dir, ".home") },
      });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`node ${node}:`);
      expect(await running()).toEqual([cname(1), cname(2)]);
      // The agent now holds the new slice: it reports it settled, and does not bring the third replica back.
      const status = await runCli(["get", "status", "--name", node, "-o", "json"], {
        env: { TREESCALE_HOME: join(work.dir, ".home") },
      });
      expect(JSON.parse(status.stdout)).toEqual([
        expect.objectContaining({
          stack: "app",
          resource: "container/app",
          condition: "Ready",
          ready: "2/2",
        }),
      ]);
      expect(await running()).toEqual([cname(1), cname(2)]);
    } finally {
      await elsewhere.remove();
    }
  });

  it("exits 0 on SIGTERM", async () => {
    const exited = new Promise<number | null>((resolve) => watcher.once("exit", (code) => resolve(code)));
    watcher.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
