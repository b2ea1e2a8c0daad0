// `logs` and `get -w` through a tree: replicas run on two child nodes (real `treescale node --agent`
// processes on the real dockerd), and the command is connected to the root, which runs no agent. The
// CLI finds which nodes run the replicas and asks each of them through the root.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../support/bus.js";
import { type RunningCli, runCli, scratch, startCli } from "../support/cli.js";
import {
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  TICKER_COMMAND,
  uniqueNodeName,
} from "../support/docker.js";
import { eventually } from "../support/poll.js";

const docker = new Docker();
const fixture = new BusFixture();
const rootName = uniqueNodeName("tr");
const children = [uniqueNodeName("ta"), uniqueNodeName("tb")];
let work: Awaited<ReturnType<typeof scratch>>;
let root: NodeProcess;

const APP = `stack = "treeday2"
[containers.web]
image = "${TEST_IMAGE}"
replicas = 4
command = ${TICKER_COMMAND}
`;

const throughRoot = (...args: string[]) =>
  runCli([...args, "--node", root.url, "--token", "good-token", "--connect-timeout", "10"]);

const start = (...args: string[]) => startCli([...args, "--node", root.url, "--token", "good-token"]);

async function interrupt(running: RunningCli): Promise<{ code: number; ms: number }> {
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
