// The CLI as a user runs it on the original project's seed files (manifests/seed/) on the embedded node:
// what cannot be carried out here is named (the balancer belongs to node1, which is not this node),
// the apply fails, and nothing reaches the engine. console.toml's ssh blocks are for `treescale build`
// (or an apply through the tree): the embedded node is the whole fleet and never dials them.
// Validation alone accepts the files.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";
import { removeContainersOfNode, uniqueNodeName } from "../support/docker.js";

const SEED = fileURLToPath(new URL("../../manifests/seed/", import.meta.url));
const BALANCER_LINE = /^\s*! unschedulable balancer\/default: node node1 is not in the fleet$/m;

const node = uniqueNodeName("seed");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;

const apply = (...args: string[]) => runCli(["apply", "-f", SEED, "--name", node, ...args], { env });

/** Every container on the engine labelled with this test's node, whoever made it. */
async function containersOfNode(): Promise<string[]> {
  const list = await new Docker().listContainers({
    all: true,
    filters: { label: [`treescale.node=${node}`] },
  });
  return list.map((c) => c.Names[0] ?? c.Id);
}

beforeAll(async () => {
  requireBuild();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
});

afterAll(async () => {
  await removeContainersOfNode(node);
  await work.remove();
});

describe("treescale apply on the seed files (embedded node, real Docker)", () => {
  it("validate accepts them: exit 0", async () => {
    const result = await runCli(["validate", "-f", SEED], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("2 files valid: 0 containers, 2 servers, 1 balancer.");
  });

  it("apply names the balancer it cannot place here, exits 1 and creates nothing", async () => {
    const result = await apply();
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(BALANCER_LINE);
    expect(result.stdout).toContain("Stack seed NOT converged.");
    expect(await containersOfNode()).toEqual([]);
  });

  it("apply --dry-run names the same balancer and exits 1: a plan that cannot be carried out is no success", async () => {
    const result = await apply("--dry-run");
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(BALANCER_LINE);
    expect(await containersOfNode()).toEqual([]);
  });
});
