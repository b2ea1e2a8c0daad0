// `treescale apply`: plan one stack for the whole tree (the embedded node is a tree of one), then
// converge it node by node over the bus, the fleet-scope kinds last, within one deadline.
import { EngineUnreachableError, EXIT, TreescaleError, UsageError } from "../errors.js";
import { applyFleet, gatherStates, gatherUntil, type NodeOutcome } from "../fleet/fleet-apply.js";
import type { FleetBus } from "../fleet/fleet-bus.js";
import { type FleetPlan, planFleet } from "../fleet/fleet-plan.js";
import { interruption, renderInterruption } from "../fleet/interruption.js";
import { fleetPlanJson, renderFleetPlanText } from "../fleet/render.js";
import type { LoadResult } from "../manifest/index.js";
import { blindKinds, type NodeState } from "../model/wire.js";
import type { Outcome } from "../reconcile/controller.js";
import type { Registry } from "../reconcile/registry.js";
import type { BeforeApplying } from "./before-applying.js";
import type { Confirmation } from "./confirm.js";
import type { FleetConnection } from "./fleet-connection.js";

/** Where the plan goes: the embedded node (a tree of one) or a tree, and the manifests as it sees them. */
export type PlanTarget = Pick<FleetConnection, "embedded" | "view" | "stopNode">;

export type FleetApplyFlags = {
  stack: string;
  prune: boolean;
  allowEmpty: boolean;
  dryRun: boolean;
  output: "text" | "json";
  timeoutMs: number;
  gatherMs: number;
  /**
   * Asked, with where to write the question, before a plan that removes or recreates anything;
   * false cancels the apply. Absent: never asked (--yes, --dry-run, stdin not a terminal).
   */
  confirm?: (output: NodeJS.WritableStream) => Promise<Confirmation>;
  /** Until the apply phase: Ctrl-C ends the verb saying nothing was applied (apply, delete). */
  beforeApplying?: BeforeApplying;
  /**
   * Ctrl-C cuts the apply short and prints what was done and what was not (exit 130). Off for a
   * caller that handles the signal itself (`watch` stops as a whole).
   */
  interruptible?: boolean;
};

export async function planFromTree(
  bus: FleetBus,
  loaded: LoadResult,
  registry: Registry,
  flags: Pick<FleetApplyFlags, "prune" | "allowEmpty" | "gatherMs" | "stack">,
  connection: PlanTarget = { embedded: undefined, view: (desired) => desired },
): Promise<FleetPlan> {
  const desired = connection.view(loaded.desired);
  const declaredObjects = registry.nodeKinds.some((kind) => Object.keys(kind.specs(desired)).length > 0);
  if (flags.prune && !declaredObjects && !flags.allowEmpty) {
    throw new UsageError(
      `refusing to prune everything in stack "${flags.stack}": the manifests declare nothing to run; pass --allow-empty if that is what you mean`,
    );
  }
  const declared = Object.keys(desired.servers);
  const expected = declared.length > 0 ? declared : undefined;
  const { embedded } = connection;
  // An embedded node started for this verb lists its engine as it starts: wait for that answer.
  const states =
    embedded === undefined
      ? await gatherStates(bus, flags.gatherMs, expected)
      : await gatherUntil(bus, flags.gatherMs, expected, (found) => listed(found, embedded));
  if (embedded !== undefined) requireSighted(states, embedded, registry.kindsInUse(desired));
  return planFleet({
    desired,
    asWritten: loaded.desired,
    states,
    prune: flags.prune,
    stack: flags.stack,
    registry,
  });
}

/** How long an interrupted apply waits for the embedded node's actions under way to end. */
const STOP_BOUND_MS = 5000;

/**
 * Returns the exit code: 0 every node converged, 1 anything else (each node's outcome printed),
 * 130 interrupted by Ctrl-C (what was done and what was not printed; a second Ctrl-C exits at once).
 */
export async function runFleetApply(
  bus: FleetBus,
  loaded: LoadResult,
  registry: Registry,
  flags: FleetApplyFlags,
  connection?: PlanTarget,
): Promise<number> {
  const deadline = Date.now() + flags.timeoutMs;
  const early = flags.beforeApplying;
  if (early) early.phase = "planning";
  const plan = await planFromTree(bus, loaded, registry, flags, connection);
  const json = flags.output === "json";
  if (!json) process.stdout.write(renderFleetPlanText(plan, registry));
  if (flags.dryRun) {
    if (json)
      process.stdout.write(
        `${JSON.stringify({ dryRun: true, plan: fleetPlanJson(plan, registry) }, null, 2)}\n`,
      );
    // A plan that cannot be carried out in full is no success, dry or not.
    return plan.unsupported.length > 0 || plan.unschedulable.length > 0 ? EXIT.failed : EXIT.ok;
  }
  if (flags.confirm !== undefined && destroys(plan, registry)) {
    // stdout stays one JSON document: the plan people decide on, and the question, go to stderr.
    if (json) process.stderr.write(renderFleetPlanText(plan, registry));
    if (early) early.phase = "asking for confirmation";
    const answer = await flags.confirm(json ? process.stderr : process.stdout);
    if (answer === "interrupted" && early) return early.report();
    if (answer !== "yes") {
      process.stderr.write("Apply cancelled.\n");
      return EXIT.failed;
    }
  }
  early?.handOver();
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const interrupt = new AbortController();
  const again = () => process.exit(EXIT.interrupted);
  const first = () => {
    process.once("SIGINT", again);
    process.stderr.write(
      connection?.stopNode
        ? "Interrupted: starting nothing more; waiting for the actions under way (Ctrl-C again to exit at once)\n"
        : "Interrupted: no longer waiting for the nodes (Ctrl-C again to exit at once)\n",
    );
    interrupt.abort();
  };
  if (flags.interruptible) process.once("SIGINT", first);
  let stopped = true;
  const onInterrupt = async () => {
    if (connection?.stopNode) stopped = await within(connection.stopNode(), STOP_BOUND_MS);
  };
  let result: Awaited<ReturnType<typeof applyFleet>>;
  try {
    result = await applyFleet({
      bus,
      plan,
      registry,
      deadline,
      onProgress: progress,
      signal: interrupt.signal,
      onInterrupt,
    });
  } finally {
    process.off("SIGINT", first);
  }
  const { nodes, actions, fleet } = result;
  if (result.interrupted) {
    const where = connection?.stopNode ? { embedded: true as const, stopped } : { embedded: false as const };
    const summary = interruption(plan, registry, result, where.embedded);
    if (json)
      process.stdout.write(
        `${JSON.stringify({ stack: plan.stack, generation: plan.generation, interrupted: true, nodeCarriesOn: !where.embedded, nodes: summary }, null, 2)}\n`,
      );
    else process.stdout.write(renderInterruption(summary, plan, where));
    return EXIT.interrupted;
  }
  const converged =
    nodes.every((o) => o.result === "converged" || o.result === "left-alone" || o.result === "pending") &&
    fleet.every((o) => o.ok) &&
    plan.unschedulable.length === 0 &&
    plan.unsupported.length === 0;
  if (json) {
    const fleetJson = fleet.map((o) => outcomeJson(registry, o));
    const report = {
      stack: plan.stack,
      generation: plan.generation,
      plan: fleetPlanJson(plan, registry),
      outcomes: nodes,
      actions,
      fleet: fleetJson,
      converged,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${nodes.map(describe).join("\n")}\n`);
    for (const outcome of fleet) {
      const line = registry.describe(outcome.action);
      process.stdout.write(
        `${outcome.ok ? "✓" : "✗"} ${line.verb} ${line.target}: ${outcome.ok ? line.reason : `FAILED: ${outcome.error}`}\n`,
      );
    }
    for (const note of plan.unsupported) process.stdout.write(`✗ ${note.target}: ${note.reason}\n`);
    process.stdout.write(
      converged ? `Stack ${plan.stack} converged.\n` : `Stack ${plan.stack} NOT converged.\n`,
    );
  }
  return converged ? EXIT.ok : EXIT.failed;
}

/**
 * Whether the plan removes or recreates anything, on any node or in the fleet: what terraform asks
 * about before it acts. Creating and starting never ask.
 */
export function destroys(plan: FleetPlan, registry: Registry): boolean {
  return [...plan.nodes.flatMap((node) => node.actions), ...plan.fleet.actions].some((action) => {
    const { effect } = registry.describe(action);
    return effect === "remove" || effect === "recreate";
  });
}

/** Whether the promise settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function listed(states: readonly NodeState[], node: string): boolean {
  const state = states.find((s) => s.node === node);
  return state !== undefined && Object.values(state.observed).every((o) => o.synced || o.error !== undefined);
}

function requireSighted(states: readonly NodeState[], node: string, inUse: ReadonlySet<string>): void {
  const state = states.find((s) => s.node === node);
  if (!state) throw new TreescaleError("NODE_UNREACHABLE", `the embedded node "${node}" did not answer`);
  const blind = blindKinds(state.observed, inUse);
  if (blind.length > 0) throw new EngineUnreachableError(blind.join("; "));
}

function outcomeJson(registry: Registry, outcome: Outcome): Record<string, unknown> {
  const base = { ...registry.actionJson(outcome.action), ms: Math.round(outcome.ms) };
  return outcome.ok
    ? { ...base, ok: true }
    : { ...base, ok: false, error: outcome.error, code: outcome.code ?? null };
}

function describe(outcome: NodeOutcome): string {
  const mark =
    outcome.result === "converged"
      ? "✓"
      : outcome.result === "left-alone" || outcome.result === "pending"
        ? "-"
        : "✗";
  return `${mark} ${outcome.node}: ${outcome.result}: ${outcome.message}`;
}
