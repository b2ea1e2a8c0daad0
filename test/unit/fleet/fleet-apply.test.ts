import { describe, expect, it } from "vitest";
import { applyFleet, gatherStates, rollingWaves } from "../../../src/fleet/fleet-apply.js";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import {
  type ContainerSpec,
  type DesiredState,
  emptyDesiredState,
  type ServerSpec,
  type UpdatePolicy,
} from "../../../src/model/resources.js";
import type { NodeState, SliceDocument } from "../../../src/model/wire.js";
import { observation, stackState } from "../../support/node-state.js";
import { planningRegistry } from "../../support/registry.js";
import { running, STACK, spec } from "../controllers/container/fixtures.js";
import { FakeFleetBus, nodeState } from "./fake-fleet-bus.js";

function server(name: string, tags: string[]): ServerSpec {
  return { name, ip: "127.0.0.1", servicePort: 8888, tags, groups: [], childs: [] };
}

const registry = planningRegistry();
const servers = [server("c1", ["web"]), server("c2", ["web"]), server("db", ["db"])];

function desiredWith(containers: ContainerSpec[], declared: ServerSpec[] = servers): DesiredState {
  const desired = emptyDesiredState();
  for (const s of declared) desired.servers[s.name] = s;
  for (const c of containers) desired.containers[c.name] = c;
  return desired;
}

function plan(desired: DesiredState, states: readonly NodeState[]) {
  return planFleet({ desired, states, stack: STACK, prune: false, registry });
}

/** A node that runs these replicas of STACK's containers, recorded as applied at generation 1. */
function runningNode(node: string, tags: string[], runs: [ContainerSpec, number[]][] = []): NodeState {
  return nodeState(node, {
    tags,
    observed: {
      container: observation(
        runs.flatMap(([s, replicas]) => replicas.map((replica) => running(node, s, replica))),
      ),
    },
    stacks: {
      [STACK]: stackState(
        STACK,
        1,
        Object.fromEntries(runs.map(([s, replicas]) => [`container/${s.name}`, { spec: s, replicas }])),
      ),
    },
  });
}

const update = (policy: Partial<UpdatePolicy>): UpdatePolicy => ({
  maxParallel: 1,
  order: "stop-first",
  failureAction: "pause",
  ...policy,
});

/** Version 1 of `name` everywhere it places, and version 2 under this update policy. */
function versions(name: string, policy: Partial<UpdatePolicy>, overrides: Partial<ContainerSpec> = {}) {
  const old = spec(name, { ...overrides, env: { V: "1" } });
  return { old, next: spec(name, { ...overrides, env: { V: "2" }, update: update(policy) }) };
}

/** Every web node runs web at version 1 (generation 1); the manifests now ask for version 2. */
function rollout(policy: Partial<UpdatePolicy>) {
  const { old, next } = versions("web", policy, { mode: "global", placement: { tags: ["web"] } });
  const states = [runningNode("c1", ["web"], [[old, [1]]]), runningNode("c2", ["web"], [[old, [1]]])];
  states.push(runningNode("db", ["db"]));
  return { plan: plan(desiredWith([next]), states), states };
}

/** The container spec a slice holds for `name`. */
const specIn = (slice: SliceDocument, name: string) =>
  slice.resources[`container/${name}`]?.spec as ContainerSpec | undefined;

const quiet = (timeoutMs = 5000) => ({
  registry,
  deadline: Date.now() + timeoutMs,
  onProgress: () => undefined,
});

describe("applyFleet", () => {
  it("a node that stops answering after it took its slice is unreachable, not a timeout", async () => {
    const web = spec("web", { replicas: 1, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const result = plan(desiredWith([web], [server("c1", ["web"])]), states);
    const bus = new FakeFleetBus({ c1: { state: states[0]!, settleAfterMs: 60_000 } });
    const applying = applyFleet({ ...quiet(30_000), pollMs: 10, bus, plan: result });
    await new Promise((resolve) => setTimeout(resolve, 30));
    bus.agents.c1!.silent = true;
    const outcome = await applying;
    expect(outcome).toEqual({
      nodes: [
        {
          node: "c1",
          result: "unreachable",
          message: `stopped answering after it accepted generation ${result.generation}`,
          stalled: [],
        },
      ],
      actions: [],
      started: [],
      fleet: [],
      interrupted: false,
    });
  });

  it("stops waiting when its signal fires: the node that took its slice carries on, the hook runs once", async () => {
    const web = spec("web", { replicas: 1, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const result = plan(desiredWith([web], [server("c1", ["web"])]), states);
    const bus = new FakeFleetBus({ c1: { state: states[0]!, settleAfterMs: 60_000 } });
    const interrupt = new AbortController();
    let hooked = 0;
    const applying = applyFleet({
      ...quiet(30_000),
      pollMs: 10,
      bus,
      plan: result,
      signal: interrupt.signal,
      onInterrupt: async () => {
        hooked++;
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const at = Date.now();
    interrupt.abort();
    const outcome = await applying;
    expect(Date.now() - at).toBeLessThan(1000);
    expect(hooked).toBe(1);
    expect(outcome.interrupted).toBe(true);
    expect(outcome.nodes).toEqual([
      {
        node: "c1",
        result: "interrupted",
        message: `accepted generation ${result.generation}; its agent carries on converging it`,
        stalled: [],
      },
    ]);
  });

  it("reports an unreachable server with nothing placed on it as pending, and one with a share as unreachable", async () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const result = plan(desiredWith([web]), states);
    const bus = new FakeFleetBus({ c1: { state: states[0]! } });
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes.map((o) => [o.node, o.result, o.message])).toEqual([
      ["c1", "converged", "generation 1 ready"],
      ["c2", "unreachable", "not reachable; nothing sent"],
      ["db", "pending", "not running; nothing is placed on it"],
    ]);
  });

  it("sends a node that cannot see its engine nothing and reports it unreachable with why", async () => {
    const web = spec("web", { mode: "global", placement: { tags: ["web"] } });
    const blind = nodeState("c2", {
      tags: ["web"],
      observed: {
        container: observation([], { synced: false, error: "connect ENOENT /var/run/docker.sock" }),
      },
    });
    const states = [nodeState("c1", { tags: ["web"] }), blind, nodeState("db", { tags: ["db"] })];
    const result = plan(desiredWith([web]), states);
    const bus = new FakeFleetBus(Object.fromEntries(states.map((state) => [state.node, { state }])));
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes.map((o) => [o.node, o.result, o.message])).toEqual([
      ["c1", "converged", "generation 1 ready"],
      ["c2", "unreachable", "cannot see its objects: container: connect ENOENT /var/run/docker.sock"],
      ["db", "converged", "generation 1 ready"],
    ]);
    expect(bus.asked("agent.apply").map((r) => r.target.node)).not.toContain("c2");
  });

  it("waits on each node's settled announcement and small summaries, never on the full state", async () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] }), nodeState("c2", { tags: ["web"] })];
    const result = plan(desiredWith([web]), states);
    const bus = new FakeFleetBus({
      c1: { state: states[0]!, settleAfterMs: 50 },
      c2: { state: states[1]!, settleAfterMs: 80 },
    });
    const began = Date.now();
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result, pollMs: 60_000 });
    // With a 60 s poll, finishing at all within seconds means the announcements woke the waits.
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(nodes.filter((o) => o.result === "converged").map((o) => o.node)).toEqual(["c1", "c2"]);
    expect(bus.asked("agent.state")).toEqual([]);
    // Per node: at most one summary before it settled (none if it settled first), one after its announcement.
    const summaries = bus.asked("agent.summary").length;
    expect(summaries).toBeGreaterThanOrEqual(2);
    expect(summaries).toBeLessThanOrEqual(4);
  });

  it("reports a node whose resources stall as failed, naming resource and reason", async () => {
    const web = spec("web", { replicas: 1, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const result = plan(desiredWith([web]), states);
    const bus = new FakeFleetBus({
      c1: {
        state: states[0]!,
        verdict: () => ({ "container/web": { condition: "Stalled", reason: "CrashLoopBackOff" } }),
      },
    });
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes[0]).toMatchObject({
      node: "c1",
      result: "failed",
      message: "container/web: CrashLoopBackOff: ",
    });
  });

  it("recreates node by node (max_parallel 1): the next node gets its slice only after the previous settled", async () => {
    const { plan: result, states } = rollout({ maxParallel: 1 });
    const bus = new FakeFleetBus(Object.fromEntries(states.map((state) => [state.node, { state }])));
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes.map((o) => o.result)).toEqual(["converged", "converged", "converged"]);
    expect(bus.log).toEqual([
      "apply db g2",
      "settled db g2",
      "apply c1 g2",
      "settled c1 g2",
      "apply c2 g2",
      "settled c2 g2",
    ]);
  });

  it("failure_action = pause: a failing wave stops the rollout; later nodes get nothing", async () => {
    const { plan: result, states } = rollout({ failureAction: "pause" });
    const bus = new FakeFleetBus({
      c1: {
        state: states[0]!,
        verdict: () => ({ "container/web": { condition: "Stalled", reason: "Unhealthy" } }),
      },
      c2: { state: states[1]! },
      db: { state: states[2]! },
    });
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes.map((o) => [o.node, o.result])).toEqual([
      ["c1", "failed"],
      ["c2", "paused"],
      ["db", "converged"],
    ]);
    expect(nodes[1]?.message).toBe("rolling update stopped after a failure in wave 1");
    expect(bus.log.filter((line) => line.startsWith("apply c2"))).toEqual([]);
  });

  it("failure_action = rollback: the failed wave gets its previous slice back under a newer generation", async () => {
    const { plan: result, states } = rollout({ failureAction: "rollback" });
    const bus = new FakeFleetBus({
      c1: {
        state: states[0]!,
        verdict: (slice) =>
          specIn(slice, "web")?.env.V === "2"
            ? { "container/web": { condition: "Stalled", reason: "Unhealthy" } }
            : {},
      },
      c2: { state: states[1]! },
      db: { state: states[2]! },
    });
    const { nodes } = await applyFleet({ ...quiet(), bus, plan: result });
    expect(nodes.map((o) => [o.node, o.result])).toEqual([
      ["c1", "rolled-back"],
      ["c2", "paused"],
      ["db", "converged"],
    ]);
    expect(bus.log.filter((line) => line.startsWith("apply c1"))).toEqual(["apply c1 g2", "apply c1 g3"]);
    const held = states[0]!.stacks[STACK]!.slice;
    expect([held.generation, specIn(held, "web")?.env]).toEqual([3, { V: "1" }]);
  });
});

describe("rollingWaves", () => {
  it("puts nodes that recreate into waves of the strictest max_parallel, the rest at once", () => {
    const { plan: result } = rollout({ maxParallel: 2 });
    const { immediate, waves, failureAction } = rollingWaves(
      result.nodes.filter((n) => n.reachable),
      registry,
    );
    expect(immediate.map((n) => n.node)).toEqual(["db"]);
    expect(waves.map((wave) => wave.map((n) => n.node))).toEqual([["c1", "c2"]]);
    expect(failureAction).toBe("pause");
  });

  it("one node at a time when max_parallel is 1; rollback wins over pause", () => {
    const { plan: result } = rollout({ maxParallel: 1, failureAction: "rollback" });
    const { waves, failureAction } = rollingWaves(result.nodes, registry);
    expect(waves.map((wave) => wave.map((n) => n.node))).toEqual([["c1"], ["c2"]]);
    expect(failureAction).toBe("rollback");
  });

  it("counts recreated replicas: with max_parallel 2, one replica per node pairs nodes; three on one node is a wave of its own", () => {
    const web = versions("web", { maxParallel: 2 }, { mode: "global", placement: { tags: ["web"] } });
    const worker = versions("worker", { maxParallel: 2 }, { replicas: 3, placement: { tags: ["big"] } });
    const states = [
      ...["a1", "a2", "a3"].map((node) => runningNode(node, ["web"], [[web.old, [1]]])),
      runningNode("big", ["big"], [[worker.old, [1, 2, 3]]]),
    ];
    const declared = states.map((s) => server(s.node, s.tags));
    const result = plan(desiredWith([web.next, worker.next], declared), states);
    expect(result.nodes.map((n) => [n.node, n.actions.filter((a) => a.type === "recreate").length])).toEqual([
      ["a1", 1],
      ["a2", 1],
      ["a3", 1],
      ["big", 3],
    ]);
    const { immediate, waves } = rollingWaves(result.nodes, registry);
    expect(immediate).toEqual([]);
    expect(waves.map((wave) => wave.map((n) => n.node))).toEqual([["a1", "a2"], ["a3"], ["big"]]);
  });
});

describe("gatherStates", () => {
  it("a healthy tree answers within one short window", async () => {
    const bus = new FakeFleetBus({
      root: { state: nodeState("root", { children: [{ node: "c1", status: "up", since: "" }] }) },
      c1: { state: nodeState("c1") },
    });
    const states = await gatherStates(bus, 5000);
    expect(states.map((s) => s.node)).toEqual(["c1", "root"]);
    expect(bus.requests).toEqual([{ event: "agent.state", target: {}, timeoutMs: 300 }]);
  });

  it("then waits only for nodes that a parent reports linked but that have not answered", async () => {
    const bus = new FakeFleetBus({
      root: {
        state: nodeState("root", {
          children: [
            { node: "c1", status: "up", since: "" },
            { node: "c2", status: "up", since: "" },
            { node: "c3", status: "down", since: "" },
          ],
        }),
      },
      c1: { state: nodeState("c1") },
      c2: { state: nodeState("c2"), answersFromCall: 2 },
      c3: { state: nodeState("c3"), silent: true },
    });
    const states = await gatherStates(bus, 5000);
    expect(states.map((s) => s.node)).toEqual(["c1", "c2", "root"]);
    expect(bus.requests).toEqual([
      { event: "agent.state", target: {}, timeoutMs: 300 },
      { event: "agent.state", target: {}, timeoutMs: 4700 },
    ]);
  });

  it("does not wait for a child its parent reports down", async () => {
    const bus = new FakeFleetBus({
      root: { state: nodeState("root", { children: [{ node: "c1", status: "down", since: "" }] }) },
      c1: { state: nodeState("c1"), silent: true },
    });
    expect((await gatherStates(bus, 5000)).map((s) => s.node)).toEqual(["root"]);
    expect(bus.requests).toHaveLength(1);
  });

  it("with the declared servers' names, asks once with the whole deadline when they all answer", async () => {
    const bus = new FakeFleetBus({ a: { state: nodeState("a") }, b: { state: nodeState("b") } });
    expect((await gatherStates(bus, 4000, ["a", "b"])).map((s) => s.node)).toEqual(["a", "b"]);
    expect(bus.requests).toEqual([{ event: "agent.state", target: {}, timeoutMs: 4000, max: 2 }]);
  });

  it("with the declared servers' names, asks a missing one by name when an undeclared node answered in its place", async () => {
    const bus = new FakeFleetBus({
      stray: { state: nodeState("stray") },
      a: { state: nodeState("a") },
      b: { state: nodeState("b"), answersFromCall: 2 },
    });
    const states = await gatherStates(bus, 4000, ["a", "b"]);
    expect(states.map((s) => s.node)).toEqual(["a", "b", "stray"]);
    expect(bus.requests).toEqual([
      { event: "agent.state", target: {}, timeoutMs: 4000, max: 2 },
      { event: "agent.state", target: { node: "b" }, timeoutMs: expect.any(Number), max: 1 },
    ]);
    const [, byName] = bus.requests;
    expect(byName?.timeoutMs).toBeGreaterThan(3000);
    expect(byName?.timeoutMs).toBeLessThanOrEqual(4000);
  });
});
