// Fault: the Docker engine under a running node stops (dockerd of the test's own, with the node's
// DOCKER_HOST pointing at it) and starts again. While it is down the node must not call itself
// Ready; once it is back the node lists again and puts back what the engine lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTestImage, TEST_IMAGE } from "../../support/docker.js";
import { containersOf, FaultFleet, type StatusRow } from "../../support/fault-fleet.js";
import { pollUntil } from "../../support/poll.js";
import { hasDocker0, PrivateDockerd } from "../../support/private-dockerd.js";

const unavailable = await PrivateDockerd.unavailable();
if (unavailable) console.warn(`engine-restart fault test skipped: ${unavailable}`);

const fleet = new FaultFleet("er");
let engine: PrivateDockerd | undefined;
let docker0Before = false;

beforeAll(async () => {
  if (unavailable) return;
  docker0Before = await hasDocker0();
  await ensureTestImage();
  engine = await PrivateDockerd.create();
  await engine.start();
  await engine.loadImage(TEST_IMAGE);
  await fleet.setup();
  await fleet.startNode("root", { env: { DOCKER_HOST: engine.host } });
  await fleet.writeFleet({ replicas: 2 });
  const first = await fleet.apply();
  expect(first.code, first.stdout + first.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await fleet.teardown();
  await engine?.destroy();
});

const web = (rows: StatusRow[]) => rows.find((row) => row.resource === "container/web");

describe.skipIf(unavailable !== undefined)("the engine restarted under a running node", () => {
  it("ran the replicas on its own engine, not the machine's", async () => {
    const node = fleet.name("root");
    expect(await containersOf(node, { docker: engine!.docker, state: "running" })).toEqual([
      fleet.containerName("root", 1),
      fleet.containerName("root", 2),
    ]);
    expect(await containersOf(node)).toEqual([]);
  });

  it("while the engine is stopped, get status does not say Ready", async () => {
    await engine!.stop();
    const rows = await pollUntil(
      () => fleet.status(),
      (r) => web(r)?.condition !== "Ready",
      30_000,
    );
    expect(web(rows)).toMatchObject({ condition: "Stalled", reason: "EngineUnreachable" });
    expect(fleet.node("root").process.exitCode).toBeNull();
  }, 60_000);

  it("once the engine is back, the node lists again and converges", async () => {
    if (engine!.running) await engine!.stop();
    await engine!.start();
    const node = fleet.name("root");
    const expected = [fleet.containerName("root", 1), fleet.containerName("root", 2)];
    // The engine stopped the containers with itself; the node starts them again without an apply.
    const running = await pollUntil(
      () => containersOf(node, { docker: engine!.docker, state: "running" }),
      (names) => names.length === 2,
      60_000,
    );
    expect(running).toEqual(expected);
    const rows = await pollUntil(
      () => fleet.status(),
      (r) => web(r)?.condition === "Ready",
      30_000,
    );
    expect(web(rows)).toMatchObject({ condition: "Ready", ready: "2/2" });
    const applied = await fleet.apply();
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(await containersOf(node, { docker: engine!.docker })).toEqual(expected);
  }, 120_000);

  it("left the machine engine's docker0 bridge alone", async () => {
    expect(await hasDocker0()).toBe(docker0Before);
  });
});
