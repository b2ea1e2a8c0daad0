// Fault: the node is killed with SIGKILL while an apply is creating its containers; restarted on the
// same --home, a re-apply converges with nothing lost and nothing twice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTestImage } from "../../support/docker.js";
import { containersOf, FaultFleet } from "../../support/fault-fleet.js";
import { pollUntil } from "../../support/poll.js";

const fleet = new FaultFleet("k9");
const REPLICAS = 8;

beforeAll(async () => {
  await ensureTestImage();
  await fleet.setup();
  await fleet.startNode("root");
  await fleet.writeFleet({ replicas: REPLICAS });
}, 60_000);

afterAll(async () => {
  await fleet.teardown();
});

describe("kill -9 of a node in the middle of an apply", () => {
  it("restarted on the same home, a re-apply converges: every replica once, Ready", async () => {
    const node = fleet.name("root");
    const applying = fleet.apply();
    // Killed once the engine holds some of the replicas but not all of them.
    await pollUntil(
      () => containersOf(node),
      (names) => names.length > 0,
      30_000,
    );
    fleet.node("root").process.kill("SIGKILL");
    // The kill came mid-apply: the engine had not started every replica yet.
    expect((await containersOf(node, { state: "running" })).length).toBeLessThan(REPLICAS);
    const interrupted = await applying;
    expect(interrupted.code).not.toBe(0);

    await fleet.restartNode("root");
    const result = await fleet.apply();
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const expected = Array.from({ length: REPLICAS }, (_, i) => fleet.containerName("root", i + 1)).sort();
    expect(await containersOf(node)).toEqual(expected);
    expect(await containersOf(node, { state: "running" })).toEqual(expected);
    const rows = await fleet.status();
    expect(rows).toEqual([
      expect.objectContaining({
        node,
        resource: "container/web",
        condition: "Ready",
        ready: `${REPLICAS}/${REPLICAS}`,
      }),
    ]);
  }, 120_000);
});
