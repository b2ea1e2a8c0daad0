// One convergence path: the same manifests applied without --node (the embedded node) and through a
// running `treescale node` give the same plan text, the same exit codes, the same `get status`, and
// roll out under the update policy the same way (replicas one wave at a time, a failed wave rolled
// back). Real processes, real dockerd.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../support/bus.js";
import { runCli, scratch } from "../support/cli.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  uniqueNodeName,
} from "../support/docker.js";

const docker = new Docker();
const fixture = new BusFixture();
const embeddedNode = uniqueNodeName("pe");
const daemonNode = uniqueNodeName("pd");
let work: Awaited<ReturnType<typeof scratch>>;
let daemon: NodeProcess;

/** 3 replicas under a rolling policy; `healthy` decides whether the new spec passes its check. */
const app = (version: string, healthy: boolean) => `
[containers.web]
image = "${TEST_IMAGE}"
replicas = 3
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
env = { VERSION = "${version}" }
healthcheck = { test = ["CMD", "${healthy ? "true" : "false"}"], interval = "200ms", retries = 1 }
update = { max_parallel = 1, order = "start-first", failure_action = "rollback" }
`;

type Path = { node: string; run(verb: string, ...args: string[]): ReturnType<typeof runCli> };

const embedded: Path = {
  node: embeddedNode,
  run: (verb, ...args) =>
    runCli([verb, "--name", embeddedNode, ...args], { env: { TREESCALE_HOME: join(work.dir, "home") } }),
};
const throughNode: Path = {
  node: daemonNode,
  run: (verb, ...args) => runCli([verb, "--node", daemon.url, "--token", "good-token", ...args]),
};

/** Output with the node's name (also inside container names) made the same for both paths. */
const same = (text: string, node: string) => text.replaceAll(node, "NODE");

async function versions(node: string): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
  const env = await Promise.all(
    list.map(async (c) => (await docker.getContainer(c.Id).inspect()).Config.Env),
  );
  return env.map((vars) => vars?.find((v) => v.startsWith("VERSION=")) ?? "?").sort();
}

beforeAll(async () => {
  await ensureTestImage();
  await fixture.setup();
  work = await scratch();
  await mkdir(join(work.dir, "app"));
  await work.write("app/web.toml", app("1", true));
  daemon = await fixture.startNode(daemonNode, [
    "--agent",
    "--home",
    join(fixture.dir, "home"),
    "--stop-timeout",
    "0",
    // The default heartbeat: the bus tests' 100 ms is for timing links, not for a CLI under load.
    "--heartbeat",
    "1000",
  ]);
}, 60_000);

afterAll(async () => {
  await fixture.teardown();
  await Promise.all([removeContainersOfNode(embeddedNode), removeContainersOfNode(daemonNode)]);
  await work?.remove();
});

describe("the embedded node and a running node converge the same way", () => {
  it("same plan, same exit code, same status for a first apply", async () => {
    const dir = join(work.dir, "app");
    const a = await embedded.run("apply", "--stop-timeout", "0", "-f", dir);
    const b = await throughNode.run("apply", "-f", dir);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(same(a.stdout, embeddedNode)).toBe(same(b.stdout, daemonNode));
    const status = async (path: Path) => {
      const out = await path.run("get", "status", "-o", "json");
      return (JSON.parse(out.stdout) as Record<string, unknown>[]).map(
        ({ node: _n, since: _s, ...rest }) => rest,
      );
    };
    expect(await status(embedded)).toEqual(await status(throughNode));
    expect(await status(embedded)).toEqual([
      expect.objectContaining({ stack: "app", resource: "container/web", condition: "Ready", ready: "3/3" }),
    ]);
  });

  it("a new spec that fails its health check: the first wave is rolled back, the other replicas never change, exit 1 on both", async () => {
    await work.write("app/web.toml", app("2", false));
    const dir = join(work.dir, "app");
    for (const path of [embedded, throughNode]) {
      const since = Date.now();
      const result =
        path === embedded
          ? await path.run("apply", "--stop-timeout", "0", "--timeout", "60", "-f", dir)
          : await path.run("apply", "--timeout", "60", "-f", dir);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(new RegExp(`✗ ${path.node}: rolled-back`));
      expect(await versions(path.node)).toEqual(["VERSION=1", "VERSION=1", "VERSION=1"]);
      // max_parallel = 1: one replica got the new spec (and then the old one back), never all three.
      // (Under a loaded full suite one run showed a single create: what is asserted is that the wave
      // stopped at one replica — at most its new container and its rollback — not the exact count.)
      const creates = (await engineEvents(path.node, since, Date.now() + 200)).filter(
        (e) => e.action === "create",
      );
      expect(creates.length).toBeGreaterThanOrEqual(1);
      expect(creates.length).toBeLessThanOrEqual(2);
    }
  });
});
