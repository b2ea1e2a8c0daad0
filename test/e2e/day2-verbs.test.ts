// The day-2 verbs a kubectl or compose user reaches for, through the built CLI against the real
// dockerd, sharing one embedded node: `watch` runs it (applying, healing, and printing the drift it
// heals), and `logs`, `get -o wide|name`, `get -l`, `get -w` and `--help` join it as a user would.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningCli, requireBuild, runCli, scratch, startCli } from "../support/cli.js";
import {
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  TICKER_COMMAND,
  uniqueNodeName,
} from "../support/docker.js";
import { eventually } from "../support/poll.js";

const docker = new Docker();
const node = uniqueNodeName("day2");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
let watch: RunningCli;

const APP = `stack = "day2"
[containers.web]
image = "${TEST_IMAGE}"
replicas = 10
command = ${TICKER_COMMAND}
labels = { tier = "web" }

[containers.db]
image = "${TEST_IMAGE}"
command = ${TICKER_COMMAND}
labels = { tier = "db" }
`;

/** A long-running verb (watch, logs -f, get -w) on this test's node. */
const start = (...args: string[]) => startCli([...args, "--name", node], env);

const cli = (...args: string[]) => runCli([...args, "--name", node], { env });

/** Ctrl-C, and how long the verb took to end after it. */
async function interrupt(running: RunningCli): Promise<{ code: number; ms: number; stderr: string }> {
  const at = Date.now();
  running.child.kill("SIGINT");
  const { code, stderr } = await running.done;
  return { code, ms: Date.now() - at, stderr };
}

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await work.write("app/app.toml", APP);
  watch = start("watch", "-f", join(work.dir, "app"));
  await eventually(async () => (watch.stdout().includes("applied: converged") ? true : undefined), 90_000);
}, 120_000);

afterAll(async () => {
  if (watch && watch.child.exitCode === null) await interrupt(watch);
  await removeContainersOfNode(node);
  await work?.remove();
});

describe("day-2 verbs on the embedded node (real Docker)", () => {
  it("get -o name lists replicas as container/web-N in numeric order; -l selects by label", async () => {
    const all = await cli("get", "containers", "-o", "name");
    expect(all.code, all.stderr).toBe(0);
    const names = all.stdout.trim().split("\n");
    expect(names).toEqual([
      "container/db-1",
      ...Array.from({ length: 10 }, (_, i) => `container/web-${i + 1}`),
    ]);
    const db = await cli("get", "containers", "-o", "name", "-l", "tier=db");
    expect(db.stdout.trim()).toBe("container/db-1");
    const notWeb = await cli("get", "containers", "-o", "name", "-l", "tier!=web,tier");
    expect(notWeb.stdout.trim()).toBe("container/db-1");
    const bad = await cli("get", "containers", "-l", "=x");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('-l: cannot read "=x"');
  });

  it("get -o wide adds where each replica is reached and what it runs; the plain table does not", async () => {
    const wide = await cli("get", "containers", "-o", "wide", "-l", "tier=db");
    expect(wide.code, wide.stderr).toBe(0);
    const [header, row] = wide.stdout.trim().split("\n");
    expect(header).toMatch(/\bRESTARTS\b.*\bIP\b.*\bPORTS\b.*\bIMAGE-ID\b.*\bLABELS\b.*\bNODE-ADDRESS\b/);
    // The engine's restart count, read by the node (blank would mean it has not been read).
    expect(row!.slice(header!.indexOf("RESTARTS")).split(/\s+/)[0]).toMatch(/^\d+$/);
    expect(row).toMatch(/172\.\d+\.\d+\.\d+/);
    expect(row).toContain("tier=db");
    expect(row).toMatch(/127\.0\.0\.1:\d+/);
    const narrow = await cli("get", "containers", "-l", "tier=db");
    expect(narrow.stdout).not.toContain("IMAGE-ID");
    // Columns line up: every row's STATE starts where the header's does.
    const lines = (await cli("get", "containers")).stdout.trim().split("\n");
    const at = lines[0]!.indexOf("STATE");
    for (const line of lines.slice(1)) expect(line.slice(at, at + 7)).toBe("running");
  });

  it("logs prints every replica's lines prefixed like compose; a resource nobody runs is an error", async () => {
    const result = await cli("logs", "web", "--tail", "1");
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(10);
    const replicas = lines.map((line) => /^(web-\d+) +\| tick \d+$/.exec(line)?.[1]);
    expect(new Set(replicas)).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `web-${i + 1}`)));

    const hello = await cli("logs", "db", "--tail", "100");
    expect(hello.stdout).toMatch(/^db-1 \| hello from \w+$/m);

    const missing = await cli("logs", "nosuch");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no container "nosuch" runs on the nodes that answered (${node})`);
  });

  it("logs -f keeps printing new lines and ends at once on Ctrl-C", async () => {
    const follow = start("logs", "db", "-f", "--tail", "0");
    const ticks = () => follow.stdout().match(/^db-1 \| tick \d+$/gm)?.length ?? 0;
    await eventually(async () => (ticks() >= 3 ? true : undefined), 20_000);
    const { code, ms } = await interrupt(follow);
    expect(code).toBe(130);
    expect(ms).toBeLessThan(3000);
  });

  it("get -w prints the table, then the rows that change; watch prints the drift it heals", async () => {
    const watching = start("get", "containers", "-w", "-l", "tier=db");
    await eventually(async () => (watching.stdout().includes("running") ? true : undefined), 20_000);
    const first = watching.stdout();
    const before = await docker.getContainer(`day2_db_1_${node}`).inspect();
    // A removal, not a kill: a killed container is started again in well under the 250 ms between two
    // looks of -w, so its "exited" row is a race; a removed one comes back under a new ID, and that row
    // must be printed again (under the same name, so as a change, not as gone + new).
    await docker.getContainer(before.Id).remove({ force: true });
    const changes = () => watching.stdout().slice(first.length);
    await eventually(async () => {
      const replacement = changes()
        .split("\n")
        .find((line) => /running/.test(line) && !line.includes(before.Id.slice(0, 12)));
      return replacement ? true : undefined;
    }, 20_000);
    const { code, ms } = await interrupt(watching);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(3000);
    await eventually(async () => (/healed: container\/db on node/.test(watch.stdout()) ? true : undefined));
    expect(watch.stdout()).toMatch(/drift: container\/db on node \S+: .*day2_db_1_\S+ .*; healing/);
  });

  it("every verb's --help carries examples", async () => {
    for (const verb of ["validate", "diff", "apply", "get", "logs", "delete", "watch", "events", "publish"]) {
      const help = await runCli([verb, "--help"]);
      expect(help.stdout, verb).toMatch(/Examples:\n {2}treescale /);
    }
  });
});
