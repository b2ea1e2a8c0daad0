// `treescale delete -f app/` (and `down`) on the embedded node against the real dockerd: what the
// stack runs goes, after the same plan as apply; another stack and a container TreeScale did not
// create stay.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

const docker = new Docker();
const node = uniqueNodeName("del");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
let foreignId = "";

const SLEEP = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
const app = (stack: string, replicas: number) => `stack = "${stack}"
[containers.web]
image = "${TEST_IMAGE}"
replicas = ${replicas}
command = ${SLEEP}
`;

async function running(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${node}`] } });
  return list.map((c) => c.Names[0]!.slice(1)).sort();
}

const cli = (...args: string[]) => runCli([...args, "--name", node, "--stop-timeout", "0"], { env });

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await mkdir(join(work.dir, "other"));
  await work.write("app/app.toml", app("shop", 2));
  await work.write("other/app.toml", app("blog", 1));
  // Labelled like ours but never applied: no node recorded it, so nothing may remove it.
  const foreign = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ["sleep", "600"],
    name: `${node}-foreign`,
    Labels: {
      "treescale.node": node,
      "treescale.stack": "shop",
      "treescale.resource": "web",
      "treescale.replica": "9",
    },
  });
  foreignId = foreign.id;
}, 60_000);

afterAll(async () => {
  await docker
    .getContainer(foreignId)
    .remove({ force: true })
    .catch(() => undefined);
  await removeContainersOfNode(node);
  await work?.remove();
});

describe("treescale delete / down (embedded node, real Docker)", () => {
  it("removes only what the stack's apply created, after printing the plan; --dry-run changes nothing", async () => {
    expect((await cli("apply", "-f", join(work.dir, "app"))).code).toBe(0);
    expect((await cli("apply", "-f", join(work.dir, "other"))).code).toBe(0);
    const before = await running();
    expect(before).toEqual(
      [`${node}-foreign`, `blog_web_1_${node}`, `shop_web_1_${node}`, `shop_web_2_${node}`].sort(),
    );

    const dry = await cli("delete", "-f", join(work.dir, "app"), "--dry-run");
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`- remove\\s+shop_web_1_${node}`));
    expect(dry.stdout).toMatch(new RegExp(`- remove\\s+shop_web_2_${node}`));
    expect(await running()).toEqual(before);

    const result = await cli("delete", "-f", join(work.dir, "app"));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("Stack shop converged.");
    expect(await running()).toEqual([`${node}-foreign`, `blog_web_1_${node}`].sort());
  });

  it("down is the same verb", async () => {
    const result = await cli("down", "-f", join(work.dir, "other"));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(await running()).toEqual([`${node}-foreign`]);
  });
});
