// Fault: a state file cut in half by hand (a disk that lost its tail, an editor gone wrong) while the
// node was down. The node says which file it could not read, keeps running from what the engine's
// labels show, and a re-apply converges without a second copy of anything.
import { readFile, truncate } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTestImage } from "../../support/docker.js";
import { containersOf, FAULT_STACK, FaultFleet } from "../../support/fault-fleet.js";

const fleet = new FaultFleet("tr");
const REPLICAS = 3;

beforeAll(async () => {
  await ensureTestImage();
  await fleet.setup();
  await fleet.startNode("root");
  await fleet.writeFleet({ replicas: REPLICAS });
  const first = await fleet.apply();
  expect(first.code, first.stdout + first.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await fleet.teardown();
});

const stateFile = (file: string) =>
  join(fleet.home("root"), "nodes", fleet.name("root"), "stacks", FAULT_STACK, file);

describe.each(["slice.json", "inventory.json"])("%s truncated while the node was down", (file) => {
  it("is named in the log; the node keeps running and a re-apply converges, nothing duplicated", async () => {
    const node = fleet.name("root");
    const expected = Array.from({ length: REPLICAS }, (_, i) => fleet.containerName("root", i + 1)).sort();
    expect(await containersOf(node)).toEqual(expected);
    const ids = await containerIds(node);

    await fleet.node("root").stop();
    const path = stateFile(file);
    const size = (await readFile(path)).length;
    await truncate(path, Math.floor(size / 2));
    const restarted = await fleet.restartNode("root");
    await restarted.waitForLog(
      new RegExp(`${escapeRegExp(path)}.*set aside|set aside.*${escapeRegExp(path)}`),
      10_000,
    );

    const result = await fleet.apply();
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(restarted.process.exitCode).toBeNull();
    expect(await containersOf(node)).toEqual(expected);
    expect(await containersOf(node, { state: "running" })).toEqual(expected);
    // Adopted by their labels, not made again.
    expect(await containerIds(node)).toEqual(ids);
    const rows = await fleet.status();
    expect(rows).toEqual([
      expect.objectContaining({ node, resource: "container/web", condition: "Ready", ready: "3/3" }),
    ]);
    // The file is whole again, written by the node.
    JSON.parse(await readFile(path, "utf8"));
  }, 90_000);
});

async function containerIds(node: string): Promise<string[]> {
  const list = await new Docker().listContainers({
    all: true,
    filters: { label: [`treescale.node=${node}`] },
  });
  return list.map((c) => c.Id).sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
