// diff shows the values a recreate changes, old and new, secrets masked, in text and in JSON.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

const node = uniqueNodeName("e2e-diffvals");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;

const manifest = (mode: string, password: string) => `
[containers.web]
image = "${TEST_IMAGE}"
command = ["sh", "-c", "while true; do sleep 1; done"]
env = { MODE = "${mode}", DB_PASSWORD = "${password}" }
`;

const diff = (...extra: string[]) =>
  runCli(["diff", "--name", node, "-f", join(work.dir, "app"), ...extra], { env });

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await work.write("app/web.toml", manifest("a", "hunter2"));
  const applied = await runCli(
    ["apply", "--name", node, "--stop-timeout", "0", "-f", join(work.dir, "app")],
    { env },
  );
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stdout}${applied.stderr}`);
  await work.write("app/web.toml", manifest("b", "hunter3"));
});

afterAll(async () => {
  await removeContainersOfNode(node);
  await work.remove();
});

describe("diff shows changed values", () => {
  it("prints each changed env value under the recreate, a secret-looking one as (sensitive)", async () => {
    const result = await diff();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/~ recreate\s+\S+_web_1_\S+\s+env changed\n/);
    expect(result.stdout).toContain('      ~ env.MODE: "a" → "b"\n');
    expect(result.stdout).toContain("      ~ env.DB_PASSWORD: (sensitive)\n");
    expect(result.stdout).not.toMatch(/hunter/);
  });

  it("gives the same changes in -o json, with from and to", async () => {
    const result = await diff("-o", "json");
    expect(result.code).toBe(1);
    expect(result.stdout).not.toMatch(/hunter/);
    const plan = JSON.parse(result.stdout) as { nodes: { actions: Record<string, unknown>[] }[] };
    const [action] = plan.nodes.flatMap((n) => n.actions);
    expect(action).toMatchObject({
      action: "recreate",
      changed: ["env"],
      changes: [
        { field: "env.DB_PASSWORD", from: "(sensitive)", to: "(sensitive)", sensitive: true },
        { field: "env.MODE", from: "a", to: "b" },
      ],
    });
  });
});
