import { describe, expect, it } from "vitest";
import type { RecreateAction } from "../../../../controllers/container/actions.js";
import { planContainers } from "../../../../controllers/container/plan.js";
import { ROLLOUT_CODES, recreateInWaves, rolloutWaves } from "../../../../controllers/container/rollout.js";
import { fieldHashes, specHash } from "../../../../controllers/container/spec-hash.js";
import { containerName } from "../../../../src/model/labels.js";
import type { ObservedContainer } from "../../../../src/model/observed.js";
import type { ContainerSpec, UpdatePolicy } from "../../../../src/model/resources.js";
import type { Outcome, SliceEntry } from "../../../../src/reconcile/controller.js";
import { FakeClock } from "../../../support/fake-clock.js";
import { FakeEngine } from "../../agent/fake-engine.js";
import { running, STACK, spec } from "./fixtures.js";

const NODE = "n";
const name = (replica: number) => containerName(STACK, NODE, "web", replica);

function specs(update: Partial<UpdatePolicy>, replicas = 3): { old: ContainerSpec; next: ContainerSpec } {
  const old = spec("web", {
    replicas,
    env: { V: "1" },
    healthcheck: { test: ["CMD", "true"] },
    update: { maxParallel: 1, order: "stop-first", failureAction: "pause", ...update },
  });
  return { old, next: { ...old, env: { V: "2" } } };
}

/** The recreates a plan makes for `next` over the observed replicas, reversed: waves must not rely on their order. */
function recreates(next: ContainerSpec, observed: readonly ObservedContainer[]): RecreateAction[] {
  const replicas = observed.map((c) => c.replica);
  const { actions } = planContainers({
    node: NODE,
    stack: STACK,
    entries: { web: { spec: next, replicas } },
    observed,
    inventory: { web: { replicas } },
    prune: false,
  });
  return (actions as RecreateAction[]).reverse();
}

function replicasOf(s: ContainerSpec): ObservedContainer[] {
  return Array.from({ length: s.replicas }, (_, i) => running(NODE, s, i + 1));
}

describe("rolloutWaves", () => {
  it("batches replicas by the policy's max_parallel, lowest replica first", () => {
    const { old, next } = specs({ maxParallel: 2 }, 5);
    const waves = rolloutWaves(recreates(next, replicasOf(old)));
    expect(waves.map((wave) => wave.map((action) => action.replica))).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("rolls one replica at a time when max_parallel is 1, or below", () => {
    for (const maxParallel of [1, 0]) {
      const { old, next } = specs({ maxParallel });
      expect(
        rolloutWaves(recreates(next, replicasOf(old))).map((wave) => wave.map((a) => a.replica)),
      ).toEqual([[1], [2], [3]]);
    }
  });

  it("has no waves without recreates", () => {
    expect(rolloutWaves([])).toEqual([]);
  });
});

/** How a recreated replica fares: its health, or a create that fails once the old container is gone. */
type Fate = "healthy" | "unhealthy" | "create fails";

/**
 * A fake engine holding replicas 1..n of `old`, the recreates to `next` planned over them, and a
 * runner that recreates stop-first on the engine; each replica fares as `fateOf` says.
 */
async function rollout(
  old: ContainerSpec,
  next: ContainerSpec,
  fateOf: (action: RecreateAction) => Fate = () => "healthy",
) {
  const engine = new FakeEngine(new FakeClock());
  for (let replica = 1; replica <= old.replicas; replica++) {
    const id = await engine.create({
      name: name(replica),
      node: NODE,
      stack: STACK,
      replica,
      spec: old,
      hash: specHash(old),
      fieldHashes: fieldHashes(old),
      generation: 1,
    });
    await engine.start(id);
    engine.containers.get(id)!.health = "healthy";
  }
  const actions = recreates(next, await engine.listOwned(NODE));
  engine.calls.length = 0;
  const ran: RecreateAction[] = [];
  const run = async (action: RecreateAction): Promise<Outcome<RecreateAction>> => {
    ran.push(action);
    await engine.remove(action.containerId);
    const fate = fateOf(action);
    if (fate === "create fails") return { action, ok: false, error: "the port is taken", ms: 0 };
    const id = await engine.create({
      name: action.name,
      node: action.node,
      stack: action.stack,
      replica: action.replica,
      spec: action.spec,
      hash: action.hash,
      fieldHashes: action.fieldHashes,
      generation: 2,
    });
    await engine.start(id);
    engine.containers.get(id)!.health = fate;
    return { action, ok: true, ms: 0 };
  };
  const roll = (previous: Readonly<Record<string, SliceEntry>> = {}) =>
    recreateInWaves(actions, {
      run,
      engine,
      node: NODE,
      previous,
      signal: new AbortController().signal,
      concurrency: 4,
      pollMs: 1,
    });
  const hashes = () => Object.fromEntries([...engine.containers.values()].map((c) => [c.replica, c.hash]));
  return { engine, actions, ran, roll, hashes };
}

const summary = (outcomes: readonly Outcome<RecreateAction>[]) =>
  outcomes.map((o) => [o.action.replica, o.ok ? "ok" : o.code]);

describe("recreateInWaves", () => {
  it("rolls healthy waves one after another: max_parallel 1 over 3 replicas is 3 waves, each checked", async () => {
    const { old, next } = specs({ maxParallel: 1 });
    const { engine, roll, hashes } = await rollout(old, next);
    const outcomes = await roll();
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [2, "ok"],
      [3, "ok"],
    ]);
    expect(engine.calls).toEqual(
      [1, 2, 3].flatMap((replica) => [
        `remove ${name(replica)}`,
        `create ${name(replica)}`,
        `start ${name(replica)}`,
        "list",
      ]),
    );
    expect(hashes()).toEqual({ 1: specHash(next), 2: specHash(next), 3: specHash(next) });
  });

  it("runs a wave's replicas together and checks the wave once", async () => {
    const { old, next } = specs({ maxParallel: 2 });
    const { engine, roll } = await rollout(old, next);
    const outcomes = await roll();
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const lists = engine.calls.flatMap((call, index) => (call === "list" ? [index] : []));
    expect(lists).toHaveLength(2);
    expect(engine.calls.indexOf(`start ${name(1)}`)).toBeLessThan(lists[0]!);
    expect(engine.calls.indexOf(`start ${name(2)}`)).toBeLessThan(lists[0]!);
    expect(engine.calls.indexOf(`remove ${name(3)}`)).toBeGreaterThan(lists[0]!);
  });

  it("pauses when a wave turns unhealthy (failure_action pause): later waves are not recreated", async () => {
    const { old, next } = specs({ maxParallel: 1, failureAction: "pause" });
    const { engine, roll, hashes } = await rollout(old, next, (action) =>
      action.replica === 2 ? "unhealthy" : "healthy",
    );
    const outcomes = await roll({ web: { spec: old, replicas: [1, 2, 3] } });
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [2, "ok"],
      [2, ROLLOUT_CODES.paused],
      [3, ROLLOUT_CODES.paused],
    ]);
    expect(ROLLOUT_CODES.paused).toBe("UPDATE_PAUSED");
    const [, , wave, rest] = outcomes;
    expect(wave).toMatchObject({
      ok: false,
      error: `wave 2 of 3 failed: ${name(2)} is failing its health check; update paused`,
    });
    expect(rest).toMatchObject({
      ok: false,
      error: `not recreated: wave 2 of 3 failed: ${name(2)} is failing its health check`,
    });
    expect(engine.calls).not.toContain(`create ${name(3)}`);
    expect(hashes()).toEqual({ 1: specHash(next), 2: specHash(next), 3: specHash(old) });
  });

  it("rolls back (failure_action rollback): the replaced replicas run the previous spec again", async () => {
    const { old, next } = specs({ maxParallel: 1, failureAction: "rollback" });
    const { engine, ran, roll, hashes } = await rollout(old, next, (action) =>
      action.replica === 2 && action.hash === specHash(next) ? "unhealthy" : "healthy",
    );
    const outcomes = await roll({ web: { spec: old, replicas: [1, 2, 3] } });
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [2, "ok"],
      [1, "ok"],
      [2, "ok"],
      [2, ROLLOUT_CODES.rolledBack],
      [3, ROLLOUT_CODES.paused],
    ]);
    expect(ROLLOUT_CODES.rolledBack).toBe("ROLLED_BACK");
    expect(outcomes[4]).toMatchObject({
      error: `wave 2 of 3 failed: ${name(2)} is failing its health check; rolled back to the previous spec`,
    });
    expect(ran.slice(2)).toMatchObject([
      { replica: 1, spec: old, hash: specHash(old), changed: [], reason: "rollback to the previous spec" },
      { replica: 2, spec: old, hash: specHash(old), changed: [], reason: "rollback to the previous spec" },
    ]);
    expect(engine.calls).not.toContain(`create ${name(3)}`);
    expect(hashes()).toEqual({ 1: specHash(old), 2: specHash(old), 3: specHash(old) });
  });

  it("rolls back a replica whose new container could not be created after the old one was removed", async () => {
    const { old, next } = specs({ maxParallel: 1, failureAction: "rollback" });
    const { roll, hashes } = await rollout(old, next, (action) =>
      action.replica === 2 && action.hash === specHash(next) ? "create fails" : "healthy",
    );
    const outcomes = await roll({ web: { spec: old, replicas: [1, 2, 3] } });
    expect(outcomes.filter((o) => !o.ok).map((o) => [o.action.replica, o.code])).toEqual([
      [2, undefined],
      [2, ROLLOUT_CODES.rolledBack],
      [3, ROLLOUT_CODES.paused],
    ]);
    expect(hashes()).toEqual({ 1: specHash(old), 2: specHash(old), 3: specHash(old) });
  });

  it("pauses instead when there is no previous spec to roll back to, and says so", async () => {
    const { old, next } = specs({ maxParallel: 1, failureAction: "rollback" });
    const { roll, hashes } = await rollout(old, next, (action) =>
      action.replica === 1 ? "unhealthy" : "healthy",
    );
    const outcomes = await roll();
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [1, ROLLOUT_CODES.paused],
      [2, ROLLOUT_CODES.paused],
      [3, ROLLOUT_CODES.paused],
    ]);
    expect(outcomes[1]).toMatchObject({
      error: expect.stringContaining("nothing to roll back to (no previous spec on this node), paused"),
    });
    expect(hashes()).toEqual({ 1: specHash(next), 2: specHash(old), 3: specHash(old) });
  });

  it("stops at a replica that did not recreate, without waiting on its health", async () => {
    const { old, next } = specs({ maxParallel: 1 });
    const { engine, actions } = await rollout(old, next);
    const outcomes = await recreateInWaves(actions, {
      run: async (action) => ({ action, ok: false, error: "no such image", ms: 0 }),
      engine,
      node: NODE,
      previous: {},
      signal: new AbortController().signal,
      concurrency: 1,
      pollMs: 1,
    });
    expect(summary(outcomes)).toEqual([
      [1, undefined],
      [1, ROLLOUT_CODES.paused],
      [2, ROLLOUT_CODES.paused],
      [3, ROLLOUT_CODES.paused],
    ]);
    expect(outcomes[1]).toMatchObject({
      error: `wave 1 of 3 failed: ${name(1)} did not recreate; update paused`,
    });
    expect(engine.calls).toEqual([]);
  });

  it("leaves a replica that did not recreate in a single ungated wave to the agent's retry, not held", async () => {
    const { old, next } = specs({ maxParallel: 3, failureAction: "pause" });
    const { roll } = await rollout(old, next, (action) =>
      action.replica === 2 ? "create fails" : "healthy",
    );
    const outcomes = await roll();
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [2, undefined],
      [3, "ok"],
    ]);
    expect(outcomes.some((o) => !o.ok && o.disposition === "hold")).toBe(false);
  });

  it("leaves a single wave that nothing could roll back to ungated: the agent's readiness judges it", async () => {
    const { old, next } = specs({ maxParallel: 3, failureAction: "pause" });
    const { engine, roll } = await rollout(old, next, () => "unhealthy");
    const outcomes = await roll();
    expect(summary(outcomes)).toEqual([
      [1, "ok"],
      [2, "ok"],
      [3, "ok"],
    ]);
    expect(engine.calls).not.toContain("list");
  });
});
