// Carries out a fleet plan over the bus: sends each node its slice of the stack (rolling where an
// update policy asks for it), waits until every node reports the new generation settled, then runs
// the fleet-scope kinds (link moves), all within one deadline. Unreachable nodes are reported,
// never silently skipped.

import type { Message } from "../bus/message.js";
import {
  AGENT_EVENTS,
  type NodeState,
  type NodeSummary,
  type ProgressReport,
  type ProgressStart,
  type ResourceStatus,
  type SliceDocument,
  type StatusAnnouncement,
} from "../model/wire.js";
import type { Outcome, PlannedAction, ProgressSink } from "../reconcile/controller.js";
import type { Registry } from "../reconcile/registry.js";
import { naturalCompare } from "../util/natural-order.js";
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
    | "left-alone"
    | "interrupted";
  message: string;
  stalled: ResourceStatus[];
};

export type FleetApplyOptions = {
  bus: FleetBus;
  plan: FleetPlan;
  registry: Registry;
  /** One deadline for the whole apply (epoch ms): waves and link moves share it. */
  deadline: number;
  onProgress(line: string): void;
  /**
   * How often a node that has not announced itself settled is asked anyway. Nodes publish
   * `agent.status` on every change, which wakes the wait at once; the poll covers a lost event.
   */
  pollMs?: number;
  /** Aborted (Ctrl-C): no more slices are sent and no node is waited for any longer. */
  signal?: AbortSignal;
  /**
   * Run once the signal fired, while progress is still heard: the embedded node stops its actions
   * here, so their ends (aborted or done) are in the result.
   */
  onInterrupt?: () => Promise<void>;
};

/**
 * Per node, how it ended; every action the nodes reported finished (and begun) for this generation;
 * the fleet-scope outcomes; whether the signal cut the apply short.
 */
export type FleetApplyResult = {
  nodes: NodeOutcome[];
  actions: ProgressReport[];
  started: ProgressStart[];
  fleet: Outcome[];
  interrupted: boolean;
};

/**
 * Every node's state. With `expected` (the declared servers), returns as soon as each of them
 * answered (asking a missing one by name if others answered in its place). Without, it listens for
 * a short window, then keeps waiting only while some node that a parent reports as linked has not
 * answered yet — so a healthy tree answers in one window.
 */
export async function gatherStates(
  bus: FleetBus,
  timeoutMs: number,
  expected?: readonly string[],
): Promise<NodeState[]> {
  const deadline = Date.now() + timeoutMs;
  const ask = async (
    windowMs: number,
    target: { node?: string },
    max?: number,
    enough?: (replies: readonly Message[]) => boolean,
  ) =>
    (await bus.requestMany(AGENT_EVENTS.state, target, undefined, Math.max(1, windowMs), max, enough)).map(
      stateOf,
    );
  const byName = new Map<string, NodeState>();
  const keep = (states: NodeState[]) => {
    for (const state of states) byName.set(state.node, state);
  };
  if (expected !== undefined) {
    keep(await ask(timeoutMs, {}, expected.length));
    const missing = expected.filter((name) => !byName.has(name));
    const answers = await Promise.all(missing.map((node) => ask(deadline - Date.now(), { node }, 1)));
    keep(answers.flat());
  } else {
    const window = Math.max(1, Math.min(FIRST_WINDOW_MS, timeoutMs));
    const first = await bus.requestMany(AGENT_EVENTS.state, {}, undefined, window, undefined, wholeTree);
    keep(first.map(stateOf));
    const states = [...byName.values()];
    const known = new Set(
      states.flatMap((s) => [
        s.node,
        ...(s.parent ? [s.parent] : []),
        ...s.children.filter((c) => c.status === "up").map((c) => c.node),
      ]),
    );
    // Until the answers of both asks make a whole tree, not until as many answers came as nodes were
    // known: in a large tree the nodes the first window missed include subtrees nobody had named yet,
    // and the first known.size answers of the second ask need not be the missing ones.
    if (known.size > byName.size && timeoutMs > FIRST_WINDOW_MS)
      keep(
        await ask(timeoutMs - FIRST_WINDOW_MS, {}, undefined, (replies) => wholeTree([...first, ...replies])),
      );
  }
  return [...byName.values()].sort((a, b) => naturalCompare(a.node, b.node));
}

const FIRST_WINDOW_MS = 300;

/**
 * gatherStates, asked again until `ready` holds or `timeoutMs` has passed: for a node that has just
 * started (an embedded node), whose first answer may come before it has looked at its engine.
 */
export async function gatherUntil(
  bus: FleetBus,
  timeoutMs: number,
  expected: readonly string[] | undefined,
  ready: (states: readonly NodeState[]) => boolean,
): Promise<NodeState[]> {
  const deadline = Date.now() + timeoutMs;
  let states = await gatherStates(bus, timeoutMs, expected);
  while (!ready(states) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    states = await gatherStates(bus, Math.max(1, deadline - Date.now()), expected);
  }
  return states;
}

/** Each reply is parsed once, however often the window's check looks at it. */
const parsedStates = new WeakMap<Message, NodeState>();
function stateOf(reply: Message): NodeState {
  let state = parsedStates.get(reply);
  if (!state) {
    state = reply.json<NodeState>();
    parsedStates.set(reply, state);
  }
  return state;
}

/**
 * The answers so far are a whole tree: everyone's parent and every child it reports linked have
 * answered too. The window can end there; a node without an agent keeps it open (to its end).
 */
function wholeTree(replies: readonly Message[]): boolean {
  const states = replies.map(stateOf);
  const answered = new Set(states.map((s) => s.node));
  return states.every(
    (s) =>
      (s.parent === undefined || answered.has(s.parent)) &&
      s.children.every((child) => child.status !== "up" || answered.has(child.node)),
  );
}

export async function applyFleet(options: FleetApplyOptions): Promise<FleetApplyResult> {
  const { plan, bus } = options;
  const signals = new SettledSignals();
  const actions: ProgressReport[] = [];
  const started: ProgressStart[] = [];
  const events = [AGENT_EVENTS.progress, AGENT_EVENTS.started, AGENT_EVENTS.status];
  const stopListening = await bus.listen(events, (message) => {
    if (message.event === AGENT_EVENTS.started) {
      const start = message.json<ProgressStart>();
      if (start.stack === plan.stack && start.generation === plan.generation) started.push(start);
      return;
    }
    if (message.event === AGENT_EVENTS.status) {
      const status = message.json<StatusAnnouncement>();
      if (status.stack === plan.stack && status.settled) signals.raise(status.node);
      return;
    }
    const report = message.json<ProgressReport>();
    if (report.stack !== plan.stack || report.generation !== plan.generation) return;
    actions.push(report);
    options.onProgress(`[${report.node}] ${report.target}: ${report.action} ${progressWord(report)}`);
  });
  const run: WaveRunner = { ...options, signals };
  try {
    const outcomes: NodeOutcome[] = [];
    for (const node of plan.nodes) {
      if (!node.reachable)
        outcomes.push(
          node.blind.length > 0
            ? {
                node: node.node,
                result: "unreachable",
                message: `cannot see its objects: ${node.blind.join("; ")}`,
                stalled: [],
              }
            : placesNothing(node.slice)
              ? {
                  node: node.node,
                  result: "pending",
                  message: "not running; nothing is placed on it",
                  stalled: [],
                }
              : {
                  node: node.node,
                  result: "unreachable",
                  message: "not reachable; nothing sent",
                  stalled: [],
                },
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
    const { immediate, waves, failureAction } = rollingWaves(targets, options.registry);
    outcomes.push(...(await runWave(run, immediate)));
    for (const [index, wave] of waves.entries()) {
      if (options.signal?.aborted) {
        outcomes.push(...wave.map((n) => notSent(n.node)));
        continue;
      }
      const results = await runWave(run, wave);
      outcomes.push(...results);
      if (results.every((r) => r.result === "converged" || r.result === "interrupted")) continue;
      if (failureAction === "rollback") outcomes.push(...(await rollBack(run, wave, results)));
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
    const interrupted = options.signal?.aborted === true;
    if (interrupted) await options.onInterrupt?.();
    const fleet = interrupted ? [] : await runFleetKinds(options);
    const nodes = dedupeLast(outcomes).sort((a, b) => naturalCompare(a.node, b.node));
    return { nodes, actions, started, fleet, interrupted };
  } finally {
    stopListening();
  }
}

/** The fleet-scope kinds act after the nodes have their slices, within what is left of the deadline. */
async function runFleetKinds(options: FleetApplyOptions): Promise<Outcome[]> {
  const { plan, registry, bus } = options;
  const outcomes: Outcome[] = [];
  const progress: ProgressSink = {
    started: (action) => options.onProgress(`[fleet] ${describeAction(registry, action)}`),
    finished: (outcome) =>
      options.onProgress(
        `[fleet] ${registry.describe(outcome.action).target}: ${outcome.ok ? "done" : `FAILED: ${outcome.error}`}`,
      ),
    activity: (text) => options.onProgress(`[fleet] ${text}`),
  };
  for (const controller of registry.fleetKinds) {
    const actions = plan.fleet.actions.filter((action) => action.kind === controller.kind);
    if (actions.length === 0) continue;
    outcomes.push(
      ...(await controller.execute(actions, {
        bus: {
          request: async (event, node, payload, timeoutMs) => {
            const [reply] = await bus.requestMany(event, { node }, payload, timeoutMs, 1);
            return reply?.json();
          },
        },
        deadline: options.deadline,
        progress,
        signal: options.signal ?? new AbortController().signal,
      })),
    );
  }
  return outcomes;
}

function describeAction(registry: Registry, action: PlannedAction): string {
  const line = registry.describe(action);
  return `${line.verb} ${line.target}: ${line.reason}`;
}

/**
 * Nodes that recreate a resource with an update policy are updated in waves holding at most
 * `max_parallel` recreated replicas (at least one node each; each node's agent rolls its own
 * replicas in batches of the same size); all others at once. The strictest policy decides.
 */
export function rollingWaves(
  nodes: readonly NodePlan[],
  registry: Pick<Registry, "nodeKind">,
): { immediate: NodePlan[]; waves: NodePlan[][]; failureAction: "pause" | "rollback" } {
  const rollingOf = (node: NodePlan) =>
    node.actions.flatMap((action) => {
      const policy = registry.nodeKind(action.kind)?.rolling?.(action);
      return policy ? [policy] : [];
    });
  const policies = nodes.flatMap(rollingOf);
  const maxParallel = Math.max(1, Math.min(...policies.map((p) => p.maxParallel), Number.MAX_SAFE_INTEGER));
  const failureAction = policies.some((p) => p.failureAction === "rollback") ? "rollback" : "pause";
  const immediate = nodes.filter((n) => rollingOf(n).length === 0);
  const waves: NodePlan[][] = [];
  let wave: NodePlan[] = [];
  let replicas = 0;
  for (const node of nodes.filter((n) => rollingOf(n).length > 0)) {
    const count = rollingOf(node).length;
    if (wave.length > 0 && replicas + count > maxParallel) {
      waves.push(wave);
      wave = [];
      replicas = 0;
    }
    wave.push(node);
    replicas += count;
  }
  if (wave.length > 0) waves.push(wave);
  return { immediate, waves, failureAction };
}

function notSent(node: string): NodeOutcome {
  return { node, result: "interrupted", message: "interrupted before its slice was sent", stalled: [] };
}

/** Resolves with the promise's value, or with undefined as soon as the signal fires. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const abort = () => resolve(undefined);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(error);
      },
    );
  });
}

/** An unreachable server that no replica is placed on is only waiting to be started. */
function placesNothing(slice: SliceDocument): boolean {
  return Object.values(slice.resources).every((entry) => entry.replicas.length === 0);
}

type WaveRunner = FleetApplyOptions & { signals: SettledSignals };

async function runWave(run: WaveRunner, nodes: readonly NodePlan[]): Promise<NodeOutcome[]> {
  return Promise.all(nodes.map((node) => sendAndWait(run, node.node, node.slice)));
}

async function sendAndWait(run: WaveRunner, node: string, slice: SliceDocument): Promise<NodeOutcome> {
  const { bus, signals, deadline, signal } = run;
  const budget = () => Math.max(1, deadline - Date.now());
  if (signal?.aborted) return notSent(node);
  const sent = await unlessAborted(
    bus.requestMany(AGENT_EVENTS.apply, { node }, JSON.stringify(slice), Math.min(budget(), 10_000), 1),
    signal,
  );
  if (sent === undefined)
    return {
      node,
      result: "interrupted",
      message: `interrupted before it answered; it may have accepted generation ${slice.generation}`,
      stalled: [],
    };
  const [reply] = sent;
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
  const ask = JSON.stringify({ stack: slice.stack });
  const carriesOn: NodeOutcome = {
    node,
    result: "interrupted",
    message: `accepted generation ${slice.generation}; its agent carries on converging it`,
    stalled: [],
  };
  for (;;) {
    // Cleared before asking: a settled announcement that arrives while we ask wakes the next wait.
    signals.clear(node);
    const replies = await unlessAborted(
      bus.requestMany(AGENT_EVENTS.summary, { node }, ask, Math.min(budget(), 5000), 1),
      signal,
    );
    if (replies === undefined) return carriesOn;
    const [summaryReply] = replies;
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
      const blind = summary?.blind.length ? `; ${summary.blind.join("; ")}` : "";
      return {
        node,
        result: "timeout",
        message: `did not settle generation ${slice.generation} before the apply's deadline${blind}`,
        stalled: summary?.unready ?? [],
      };
    }
    await unlessAborted(signals.wait(node, Math.min(left, run.pollMs ?? 1000)), signal);
    if (signal?.aborted) return carriesOn;
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

/**
 * A failure the agent retries is said as such: the apply may still converge (a heal that raced a
 * recreate for the same name), and only the end result says whether it did.
 */
function progressWord(report: ProgressReport): string {
  if (report.ok) return "done";
  return `${report.retrying ? "failed, retrying" : "FAILED"}: ${report.error ?? ""}`;
}
