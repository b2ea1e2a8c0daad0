// Carries out a fleet plan over the bus: gathers state, sends each node its slice (rolling where
// an update policy asks for it), waits until every node reports the new generation settled, and
// says per node how it ended. Unreachable nodes are reported, never silently skipped.
import { AGENT_EVENTS, type ProgressReport } from "../agent/reports.js";
import type { SliceDocument } from "../agent/slice.js";
import type { NodeState, NodeSummary, ResourceStatus } from "../agent/status.js";
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
  /**
   * How often a node that has not announced itself settled is asked anyway. Nodes publish
   * `agent.status` on every change, which wakes the wait at once; the poll covers a lost event.
   */
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
      states.flatMap((s) => [
        s.node,
        ...(s.parent ? [s.parent] : []),
        ...s.children.filter((c) => c.status === "up").map((c) => c.node),
      ]),
    );
    if (known.size > states.length && timeoutMs > FIRST_WINDOW_MS)
      states = await ask(timeoutMs - FIRST_WINDOW_MS, known.size);
  }
  return states.sort((a, b) => a.node.localeCompare(b.node));
}

const FIRST_WINDOW_MS = 300;

export async function applyFleet(options: FleetApplyOptions): Promise<NodeOutcome[]> {
  const { plan, bus } = options;
  const signals = new SettledSignals();
  const stopListening = await bus.listen([AGENT_EVENTS.progress, AGENT_EVENTS.status], (message) => {
    if (message.event === AGENT_EVENTS.status) {
      const status = message.json<{ node: string; generation: number; settled: boolean }>();
      if (status.settled) signals.raise(status.node);
      return;
    }
    const report = message.json<ProgressReport>();
    if (report.generation !== plan.generation) return;
    options.onProgress(
      `[${report.node}] ${report.container}: ${report.action}${report.ok ? " done" : ` FAILED: ${report.error ?? ""}`}`,
    );
  });
  const run: WaveRunner = { ...options, signals, deadline: Date.now() + options.timeoutMs };
  try {
    const outcomes: NodeOutcome[] = [];
    for (const node of plan.nodes) {
      if (!node.reachable)
        outcomes.push(
          placesNothing(node.slice)
            ? {
                node: node.node,
                result: "pending",
                message: "not running; nothing is placed on it",
                stalled: [],
              }
            : { node: node.node, result: "unreachable", message: "not reachable; nothing sent", stalled: [] },
        );
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
    outcomes.push(...(await runWave(run, immediate)));
    for (const [index, wave] of waves.entries()) {
      const results = await runWave(run, wave);
      outcomes.push(...results);
      if (results.every((r) => r.result === "converged")) continue;
      if (policy.failureAction === "rollback") {
        outcomes.push(...(await rollBack(run, wave, results)));
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
export function rollingWaves(nodes: readonly NodePlan[]): {
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

/** An unreachable server that no replica is placed on is only waiting to be started. */
function placesNothing(slice: SliceDocument): boolean {
  return Object.values(slice.containers).every((entry) => entry.replicas.length === 0);
}

/** `deadline` is one for the whole apply: rolling waves share --timeout, they do not each get it. */
type WaveRunner = FleetApplyOptions & { signals: SettledSignals; deadline: number };

async function runWave(run: WaveRunner, nodes: readonly NodePlan[]): Promise<NodeOutcome[]> {
  return Promise.all(nodes.map((node) => sendAndWait(run, node.node, node.slice)));
}

async function sendAndWait(run: WaveRunner, node: string, slice: SliceDocument): Promise<NodeOutcome> {
  const { bus, timeoutMs, signals, deadline } = run;
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
  let silent = 0;
  for (;;) {
    // Cleared before asking: a settled announcement that arrives while we ask wakes the next wait.
    signals.clear(node);
    const [summaryReply] = await bus.requestMany(AGENT_EVENTS.summary, { node }, undefined, 5000, 1);
    const summary = summaryReply?.json<NodeSummary>();
    silent = summary ? 0 : silent + 1;
    if (silent >= 2) {
      return {
        node,
        result: "unreachable",
        message: `stopped answering after it accepted generation ${slice.generation}`,
        stalled: [],
      };
    }
    if (summary && summary.generation === slice.generation && summary.settled) {
      const stalled = summary.unready.filter((s) => s.condition === "Stalled");
      return stalled.length === 0
        ? { node, result: "converged", message: `generation ${slice.generation} ready`, stalled }
        : {
            node,
            result: "failed",
            message: stalled.map((s) => `${s.resource}: ${s.reason}: ${s.message}`).join("; "),
            stalled,
          };
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      return {
        node,
        result: "timeout",
        message: `did not settle generation ${slice.generation} within ${timeoutMs} ms`,
        stalled: summary?.unready ?? [],
      };
    }
    await signals.wait(node, Math.min(left, run.pollMs ?? 1000));
  }
}

/** Wakes a node's wait when it announces (over `agent.status`) that it has settled. */
class SettledSignals {
  readonly #raised = new Set<string>();
  readonly #waiters = new Map<string, () => void>();

  raise(node: string): void {
    this.#raised.add(node);
    this.#waiters.get(node)?.();
  }

  clear(node: string): void {
    this.#raised.delete(node);
  }

  /** Resolves at the next announcement from `node` (or at once if one came since `clear`), or after `ms`. */
  wait(node: string, ms: number): Promise<void> {
    if (this.#raised.has(node)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.#waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(node);
        resolve();
      }
      waiters.set(node, done);
    });
  }
}

/** Sends the failed wave's nodes their previous slice again, under a newer generation. */
async function rollBack(
  options: WaveRunner,
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
