// Carries out a fleet plan over the bus: gathers state, sends each node its slice (rolling where
// an update policy asks for it), waits until every node reports the new generation settled, and
// says per node how it ended. Unreachable nodes are reported, never silently skipped.
import { AGENT_EVENTS, type ProgressReport } from "../agent/reports.js";
import type { SliceDocument } from "../agent/slice.js";
import type { NodeState, ResourceStatus } from "../agent/status.js";
import type { UpdatePolicy } from "../model/resources.js";
import type { FleetBus } from "./fleet-bus.js";
import type { FleetPlan, NodePlan } from "./fleet-plan.js";

export type NodeOutcome = {
  node: string;
  result:
    | "converged"
    | "failed"
    | "unreachable"
    | "pending"
    | "timeout"
    | "paused"
    | "rolled-back"
    | "left-alone";
  message: string;
  stalled: ResourceStatus[];
};

export type FleetApplyOptions = {
  bus: FleetBus;
  plan: FleetPlan;
  timeoutMs: number;
  onProgress(line: string): void;
  pollMs?: number;
};

/**
 * Every node's state. With `expected` (the declared servers), returns as soon as that many
 * answered. Without, it listens for a short window, then keeps waiting only while some node that
 * a parent reports as linked has not answered yet — so a healthy tree answers in one window.
 */
export async function gatherStates(
  bus: FleetBus,
  timeoutMs: number,
  expected?: number,
): Promise<NodeState[]> {
  const ask = async (windowMs: number, max?: number) =>
    (await bus.requestMany(AGENT_EVENTS.state, {}, undefined, windowMs, max)).map((reply) =>
      reply.json<NodeState>(),
    );
  let states = await ask(expected === undefined ? Math.min(FIRST_WINDOW_MS, timeoutMs) : timeoutMs, expected);
  if (expected === undefined) {
    const known = new Set(
      states.flatMap((s) => [s.node, ...s.children.filter((c) => c.status === "up").map((c) => c.node)]),
    );
    if (known.size > states.length && timeoutMs > FIRST_WINDOW_MS)
      states = await ask(timeoutMs - FIRST_WINDOW_MS, known.size);
  }
  return states.sort((a, b) => a.node.localeCompare(b.node));
}

const FIRST_WINDOW_MS = 300;

export async function applyFleet(options: FleetApplyOptions): Promise<NodeOutcome[]> {
  const { plan, bus } = options;
  const stopListening = await bus.listen([AGENT_EVENTS.progress], (message) => {
    const report = message.json<ProgressReport>();
    if (report.generation !== plan.generation) return;
    options.onProgress(
      `[${report.node}] ${report.container}: ${report.action}${report.ok ? " done" : ` FAILED: ${report.error ?? ""}`}`,
    );
  });
  try {
    const outcomes: NodeOutcome[] = [];
    for (const node of plan.nodes) {
      if (!node.reachable)
        outcomes.push({
          node: node.node,
          result: "unreachable",
          message: "not reachable; nothing sent",
          stalled: [],
        });
      if (node.undeclared)
        outcomes.push({
          node: node.node,
          result: "left-alone",
          message: "not among the manifests' servers",
          stalled: [],
        });
    }
    const targets = plan.nodes.filter((n) => n.reachable && !n.undeclared);
    const { immediate, waves, policy } = rollingWaves(targets);
    outcomes.push(...(await runWave(options, immediate)));
    for (const [index, wave] of waves.entries()) {
      const results = await runWave(options, wave);
      outcomes.push(...results);
      if (results.every((r) => r.result === "converged")) continue;
      if (policy.failureAction === "rollback") {
        outcomes.push(...(await rollBack(options, wave, results)));
      }
      for (const rest of waves.slice(index + 1).flat()) {
        outcomes.push({
          node: rest.node,
          result: "paused",
          message: `rolling update stopped after a failure in wave ${index + 1}`,
          stalled: [],
        });
      }
      break;
    }
    return dedupeLast(outcomes).sort((a, b) => a.node.localeCompare(b.node));
  } finally {
    stopListening();
  }
}

/**
 * Nodes that recreate a resource with an update policy are updated `maxParallel` at a time;
 * all others at once. The strictest policy among the recreated resources decides.
 */
function rollingWaves(nodes: readonly NodePlan[]): {
  immediate: NodePlan[];
  waves: NodePlan[][];
  policy: UpdatePolicy;
} {
  const policies = nodes.flatMap((n) =>
    n.actions.filter((a) => a.type === "recreate").map((a) => a.spec.update),
  );
  const policy: UpdatePolicy = {
    maxParallel: Math.max(1, Math.min(...policies.map((p) => p.maxParallel), Number.MAX_SAFE_INTEGER)),
    order: "stop-first",
    failureAction: policies.some((p) => p.failureAction === "rollback") ? "rollback" : "pause",
  };
  const rolling = nodes.filter((n) => n.actions.some((a) => a.type === "recreate"));
  const immediate = nodes.filter((n) => !rolling.includes(n));
  const waves: NodePlan[][] = [];
  for (let i = 0; i < rolling.length; i += policy.maxParallel)
    waves.push(rolling.slice(i, i + policy.maxParallel));
  return { immediate, waves, policy };
}

async function runWave(options: FleetApplyOptions, nodes: readonly NodePlan[]): Promise<NodeOutcome[]> {
  return Promise.all(nodes.map((node) => sendAndWait(options, node.node, node.slice)));
}

async function sendAndWait(
  options: FleetApplyOptions,
  node: string,
  slice: SliceDocument,
): Promise<NodeOutcome> {
  const { bus, timeoutMs } = options;
  const [reply] = await bus.requestMany(
    AGENT_EVENTS.apply,
    { node },
    JSON.stringify(slice),
    Math.min(timeoutMs, 10_000),
    1,
  );
  if (!reply)
    return { node, result: "unreachable", message: "did not answer the apply request", stalled: [] };
  const answer = reply.json<{ accepted: boolean; reason?: string }>();
  if (!answer.accepted)
    return {
      node,
      result: "failed",
      message: `refused the slice: ${answer.reason ?? "no reason given"}`,
      stalled: [],
    };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [stateReply] = await bus.requestMany(AGENT_EVENTS.state, { node }, undefined, 5000, 1);
    const state = stateReply?.json<NodeState>();
    if (state && state.generation === slice.generation && state.settled) {
      const stalled = state.statuses.filter((s) => s.condition === "Stalled");
      return stalled.length === 0
        ? { node, result: "converged", message: `generation ${slice.generation} ready`, stalled }
        : {
            node,
            result: "failed",
            message: stalled.map((s) => `${s.resource}: ${s.reason}: ${s.message}`).join("; "),
            stalled,
          };
    }
    if (Date.now() > deadline) {
      return {
        node,
        result: "timeout",
        message: `did not settle generation ${slice.generation} within ${timeoutMs} ms`,
        stalled: state?.statuses.filter((s) => s.condition !== "Ready") ?? [],
      };
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 150));
  }
}

/** Sends the failed wave's nodes their previous slice again, under a newer generation. */
async function rollBack(
  options: FleetApplyOptions,
  wave: readonly NodePlan[],
  results: readonly NodeOutcome[],
): Promise<NodeOutcome[]> {
  const outcomes: NodeOutcome[] = [];
  for (const node of wave) {
    if (!node.previous) continue;
    const failed = results.find((r) => r.node === node.node);
    const rollback: SliceDocument = { ...node.previous, generation: options.plan.generation + 1 };
    options.onProgress(`[${node.node}] rolling back: ${failed?.message ?? ""}`);
    const outcome = await sendAndWait(options, node.node, rollback);
    outcomes.push({
      ...outcome,
      result: outcome.result === "converged" ? "rolled-back" : outcome.result,
      message: `rolled back after: ${failed?.message ?? "failure"}`,
    });
  }
  return outcomes;
}

function dedupeLast(outcomes: readonly NodeOutcome[]): NodeOutcome[] {
  const last = new Map<string, NodeOutcome>();
  for (const outcome of outcomes) last.set(outcome.node, outcome);
  return [...last.values()];
}
