import { describe, expect, it } from "vitest";
import type { NodeState } from "../../../src/agent/status.js";
import { applyFleet, gatherStates, rollingWaves } from "../../../src/fleet/fleet-apply.js";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import { emptyDesiredState, type ServerSpec, type UpdatePolicy } from "../../../src/model/resources.js";
import { running, spec } from "../plan/fixtures.js";
import { FakeFleetBus, nodeState } from "./fake-fleet-bus.js";

function server(name: string, tags: string[]): ServerSpec {
  return { name, ip: "127.0.0.1", servicePort: 8888, tags, groups: [], childs: [] };
}

const servers = [server("c1", ["web"]), server("c2", ["web"]), server("db", ["db"])];

function desiredWith(web: ReturnType<typeof spec>) {
  const desired = emptyDesiredState();
  for (const s of servers) desired.servers[s.name] = s;
  desired.containers[web.name] = web;
  return desired;
}

const update = (policy: Partial<UpdatePolicy>): UpdatePolicy => ({
  maxParallel: 1,
  order: "stop-first",
  failureAction: "pause",
  ...policy,
});

/** Every node runs web at version 1 (generation 1); the manifests now ask for version 2. */
function rollout(policy: Partial<UpdatePolicy>) {
  const old = spec("web", { mode: "global", placement: { tags: ["web"] }, env: { V: "1" } });
  const web = spec("web", {
    mode: "global",
    placement: { tags: ["web"] },
    env: { V: "2" },
    update: update(policy),
  });
  const states: NodeState[] = ["c1", "c2"].map((node) =>
    nodeState(node, {
      tags: ["web"],
      generation: 1,
      containers: [running(node, old, 1)],
      inventory: { web: { replicas: [1] } },
      slice: { generation: 1, prune: false, containers: { web: { spec: old, replicas: [1] } } },
    }),
  );
  states.push(nodeState("db", { tags: ["db"], generation: 1 }));
  return { plan: planFleet({ desired: desiredWith(web), states, prune: false }), states };
}

const quiet = { timeoutMs: 5000, onProgress: () => undefined };

describe("applyFleet", () => {
  it("a node that stops answering after it took its slice is unreachable, not a timeout", async () => {
    const web = spec("web", { replicas: 1, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const desired = emptyDesiredState();
    desired.servers.c1 = server("c1", ["web"]);
    desired.containers.web = web;
    const plan = planFleet({ desired, states, prune: false });
    const bus = new FakeFleetBus({ c1: { state: states[0]!, settleAfterMs: 60_000 } });
    const applying = applyFleet({ ...quiet, timeoutMs: 30_000, pollMs: 10, bus, plan });
    await new Promise((resolve) => setTimeout(resolve, 30));
    bus.agents.c1!.silent = true;
    const outcomes = await applying;
    expect(outcomes).toEqual([
      {
        node: "c1",
        result: "unreachable",
        message: `stopped answering after it accepted generation ${plan.generation}`,
        stalled: [],
      },
    ]);
  });

  it("reports an unreachable server with nothing placed on it as pending, and one with a share as unreachable", async () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const plan = planFleet({ desired: desiredWith(web), states, prune: false });
    const bus = new FakeFleetBus({ c1: { state: states[0]! } });
    const outcomes = await applyFleet({ ...quiet, bus, plan });
    expect(outcomes.map((o) => [o.node, o.result, o.message])).toEqual([
      ["c1", "converged", "generation 1 ready"],
      ["c2", "unreachable", "not reachable; nothing sent"],
      ["db", "pending", "not running; nothing is placed on it"],
    ]);
  });

  it("waits on each node's settled announcement and small summaries, never on the full state", async () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] }), nodeState("c2", { tags: ["web"] })];
    const plan = planFleet({ desired: desiredWith(web), states, prune: false });
    const bus = new FakeFleetBus({
      c1: { state: states[0]!, settleAfterMs: 50 },
      c2: { state: states[1]!, settleAfterMs: 80 },
    });
    const began = Date.now();
    const outcomes = await applyFleet({ ...quiet, bus, plan, pollMs: 60_000 });
    // With a 60 s poll, finishing at all within seconds means the announcements woke the waits.
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(outcomes.filter((o) => o.result === "converged").map((o) => o.node)).toEqual(["c1", "c2"]);
    expect(bus.asked("agent.state")).toEqual([]);
    // Per node: at most one summary before it settled (none if it settled first), one after its announcement.
    const summaries = bus.asked("agent.summary").length;
    expect(summaries).toBeGreaterThanOrEqual(2);
    expect(summaries).toBeLessThanOrEqual(4);
  });

  it("reports a node whose resources stall as failed, naming resource and reason", async () => {
    const web = spec("web", { replicas: 1, placement: { tags: ["web"] } });
    const states = [nodeState("c1", { tags: ["web"] })];
    const plan = planFleet({ desired: desiredWith(web), states, prune: false });
    const bus = new FakeFleetBus({
      c1: {
        state: states[0]!,
        verdict: () => ({ web: { condition: "Stalled", reason: "CrashLoopBackOff" } }),
      },
    });
    const [c1] = await applyFleet({ ...quiet, bus, plan });
    expect(c1).toMatchObject({ node: "c1", result: "failed", message: "web: CrashLoopBackOff: " });
  });

  it("recreates node by node (max_parallel 1): the next node gets its slice only after the previous settled", async () => {
    const { plan, states } = rollout({ maxParallel: 1 });
    const bus = new FakeFleetBus(Object.fromEntries(states.map((state) => [state.node, { state }])));
    const outcomes = await applyFleet({ ...quiet, bus, plan });
    expect(outcomes.map((o) => o.result)).toEqual(["converged", "converged", "converged"]);
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
    const { plan, states } = rollout({ failureAction: "pause" });
    const bus = new FakeFleetBus({
      c1: { state: states[0]!, verdict: () => ({ web: { condition: "Stalled", reason: "Unhealthy" } }) },
      c2: { state: states[1]! },
      db: { state: states[2]! },
    });
    const outcomes = await applyFleet({ ...quiet, bus, plan });
    expect(outcomes.map((o) => [o.node, o.result])).toEqual([
      ["c1", "failed"],
      ["c2", "paused"],
      ["db", "converged"],
    ]);
    expect(outcomes[1]?.message).toBe("rolling update stopped after a failure in wave 1");
    expect(bus.log.filter((line) => line.startsWith("apply c2"))).toEqual([]);
  });

  it("failure_action = rollback: the failed wave gets its previous slice back under a newer generation", async () => {
    const { plan, states } = rollout({ failureAction: "rollback" });
    const bus = new FakeFleetBus({
      c1: {
        state: states[0]!,
        verdict: (slice) =>
          slice.containers.web?.spec.env.V === "2"
            ? { web: { condition: "Stalled", reason: "Unhealthy" } }
            : {},
      },
      c2: { state: states[1]! },
      db: { state: states[2]! },
    });
    const outcomes = await applyFleet({ ...quiet, bus, plan });
    expect(outcomes.map((o) => [o.node, o.result])).toEqual([
      ["c1", "rolled-back"],
      ["c2", "paused"],
      ["db", "converged"],
    ]);
    expect(bus.log.filter((line) => line.startsWith("apply c1"))).toEqual(["apply c1 g2", "apply c1 g3"]);
    expect(states[0]!.slice.containers.web?.spec.env).toEqual({ V: "1" });
  });
});

describe("rollingWaves", () => {
  it("puts nodes that recreate into waves of the strictest max_parallel, the rest at once", () => {
    const { plan } = rollout({ maxParallel: 2 });
    const { immediate, waves, policy } = rollingWaves(plan.nodes.filter((n) => n.reachable));
    expect(immediate.map((n) => n.node)).toEqual(["db"]);
    expect(waves.map((wave) => wave.map((n) => n.node))).toEqual([["c1", "c2"]]);
    expect(policy).toMatchObject({ maxParallel: 2, failureAction: "pause" });
  });

  it("one node at a time when max_parallel is 1; rollback wins over pause", () => {
    const { plan } = rollout({ maxParallel: 1, failureAction: "rollback" });
    const { waves, policy } = rollingWaves(plan.nodes);
    expect(waves.map((wave) => wave.map((n) => n.node))).toEqual([["c1"], ["c2"]]);
    expect(policy.failureAction).toBe("rollback");
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
      { event: "agent.state", target: {}, timeoutMs: 4700, max: 3 },
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

  it("with the declared servers' count, asks once with the whole deadline", async () => {
    const bus = new FakeFleetBus({ a: { state: nodeState("a") }, b: { state: nodeState("b") } });
    await gatherStates(bus, 4000, 2);
    expect(bus.requests).toEqual([{ event: "agent.state", target: {}, timeoutMs: 4000, max: 2 }]);
  });
});
