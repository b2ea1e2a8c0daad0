// `logs` and `get -w` through a tree: replicas run on two child nodes (real `treescale node --agent`
// processes on the real dockerd), and the command is connected to the root, which runs no agent. The
// CLI finds which nodes run the replicas and asks each of them through the root.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../support/bus.js";
import { CLI, callerEnvironment, resultOf, runCli, scratch } from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";
import { eventually } from "../support/poll.js";

const docker = new Docker();
const fixture = new BusFixture();
const rootName = uniqueNodeName("tr");
const children = [uniqueNodeName("ta"), uniqueNodeName("tb")];
let work: Awaited<ReturnType<typeof scratch>>;
let root: NodeProcess;

const TICKER = `["sh", "-c", "echo hello from $HOSTNAME; i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"]`;
const APP = `stack = "treeday2"
[containers.web]
image = "${TEST_IMAGE}"
replicas = 4
command = ${TICKER}
`;

const throughRoot = (...args: string[]) =>
  runCli([...args, "--node", root.url, "--token", "good-token", "--connect-timeout", "10"]);

type Running = { child: ChildProcess; stdout(): string; done: ReturnType<typeof resultOf> };

function start(...args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args, "--node", root.url, "--token", "good-token"], {
    env: callerEnvironment(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  return { child, stdout: () => out, done: resultOf(child) };
}

async function interrupt(running: Running): Promise<{ code: number; ms: number }> {
  const at = Date.now();
  running.child.kill("SIGINT");
  const { code } = await running.done;
  return { code, ms: Date.now() - at };
}

/** A row of `get containers -o json`: `name` is the container's, `resource` and `replica` say whose. */
type Row = { name: string; node: string; state: string; resource: string; replica: number };

beforeAll(async () => {
  await ensureTestImage();
  await fixture.setup();
  work = await scratch();
  await mkdir(join(work.dir, "app"));
  await work.write("app/app.toml", APP);
  // The default heartbeat: the bus tests' 100 ms is for timing links, not for agents under load.
  root = await fixture.startNode(rootName, ["--heartbeat", "1000"]);
  await Promise.all(
    children.map((name) =>
      fixture.startNode(name, [
        ...["--agent", "--parent", root.url, "--heartbeat", "1000", "--stop-timeout", "0"],
        ...["--home", join(fixture.dir, name)],
      ]),
    ),
  );
  for (const name of children) await root.waitForLog(new RegExp(`child node linked node="${name}"`));
  const applied = await throughRoot("apply", "-f", join(work.dir, "app"), "--timeout", "90");
  if (applied.code !== 0)
    throw new Error(`apply through the root failed:\n${applied.stdout}\n${applied.stderr}`);
}, 150_000);

afterAll(async () => {
  await fixture.teardown();
  await Promise.all(children.map((name) => removeContainersOfNode(name)));
  await work?.remove();
});

describe("logs and get -w through a tree (real node processes, real Docker)", () => {
  it("the replicas run on both children, none on the root", async () => {
    const rows = JSON.parse((await throughRoot("get", "containers", "-o", "json")).stdout) as Row[];
    expect(rows).toHaveLength(4);
    expect(new Set(rows.map((row) => row.node))).toEqual(new Set(children));
  });

  it("logs through the root prints every replica's lines, from both children, prefixed like compose", async () => {
    const result = await throughRoot("logs", "web", "--tail", "100");
    expect(result.code, result.stderr).toBe(0);
    const hellos = result.stdout.match(/^web-\d+ +\| hello from \w+$/gm) ?? [];
    expect(new Set(hellos.map((line) => line.split(" ")[0]))).toEqual(
      new Set(["web-1", "web-2", "web-3", "web-4"]),
    );
  });

  it("logs -f through the root keeps printing from replicas on both children and ends at once on Ctrl-C", async () => {
    const follow = start("logs", "web", "-f", "--tail", "0");
    const tickers = () => new Set(follow.stdout().match(/^web-\d+(?= +\| tick \d+$)/gm) ?? []);
    await eventually(async () => (tickers().size === 4 ? true : undefined), 30_000);
    const { code, ms } = await interrupt(follow);
    expect(code).toBe(130);
    expect(ms).toBeLessThan(3000);
  }, 60_000);

  it("get -w through the root prints a replica on a child replaced under it as a changed row", async () => {
    const rows = JSON.parse((await throughRoot("get", "containers", "-o", "json")).stdout) as Row[];
    const victim = rows.find((row) => row.node === children[1])!;
    const watching = start("get", "containers", "-w");
    await eventually(
      async () => ((watching.stdout().match(/running/g) ?? []).length >= 4 ? true : undefined),
      30_000,
    );
    const first = watching.stdout();
    const before = await docker.getContainer(victim.name).inspect();
    await docker.getContainer(before.Id).remove({ force: true });
    await eventually(async () => {
      const replacement = watching
        .stdout()
        .slice(first.length)
        .split("\n")
        .find(
          (line) =>
            line.includes(victim.name) && /running/.test(line) && !line.includes(before.Id.slice(0, 12)),
        );
      return replacement ? true : undefined;
    }, 30_000);
    const { code, ms } = await interrupt(watching);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3000);
  }, 60_000);
});
