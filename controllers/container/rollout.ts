// Recreates under a resource's update policy, as swarm's rolling update does: `max_parallel`
// replicas at a time, each wave judged healthy before the next starts; a failed wave stops the
// rollout ("pause") or puts the replaced replicas back on the previous spec ("rollback").
import type { ContainerEngine } from "../../src/drivers/engine.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import type { Outcome, SliceEntry } from "../../src/reconcile/controller.js";
import { runLimited } from "../../src/util/run-limited.js";
import type { RecreateAction } from "./actions.js";
import { fieldHashes, specHash } from "./spec-hash.js";

export type RolloutOptions = {
  run(action: RecreateAction): Promise<Outcome<RecreateAction>>;
  engine: Pick<ContainerEngine, "listOwned">;
  node: string;
  previous: Readonly<Record<string, SliceEntry>>;
  signal: AbortSignal;
  /** Resources rolled at once. */
  concurrency: number;
  pollMs?: number;
  /** How long a replica without a health check must keep running to count as started. */
  monitorMs?: number;
};

/** Codes of the outcomes that report a stopped rollout: the agent holds the resource until a new slice. */
export const ROLLOUT_CODES = { paused: "UPDATE_PAUSED", rolledBack: "ROLLED_BACK" } as const;

export async function recreateInWaves(
  actions: readonly RecreateAction[],
  options: RolloutOptions,
): Promise<Outcome<RecreateAction>[]> {
  const byResource = new Map<string, RecreateAction[]>();
  for (const action of actions) {
    const list = byResource.get(action.resource) ?? [];
    list.push(action);
    byResource.set(action.resource, list);
  }
  const rolled = await runLimited([...byResource.values()], options.concurrency, (list) =>
    rollResource(list, options),
  );
  return rolled.flat();
}

/** Replicas in batches of the policy's size: pure, so the batching is a unit test. */
export function rolloutWaves(actions: readonly RecreateAction[]): RecreateAction[][] {
  const sorted = [...actions].sort((a, b) => a.replica - b.replica);
  const size = Math.max(1, sorted[0]?.spec.update.maxParallel ?? 1);
  const waves: RecreateAction[][] = [];
  for (let i = 0; i < sorted.length; i += size) waves.push(sorted.slice(i, i + size));
  return waves;
}

async function rollResource(
  actions: readonly RecreateAction[],
  options: RolloutOptions,
): Promise<Outcome<RecreateAction>[]> {
  const waves = rolloutWaves(actions);
  const policy = actions[0]?.spec.update;
  if (!policy) return [];
  // One wave and nothing to roll back to: the agent's readiness check judges it, no gate needed, and
  // a replica that did not recreate is retried by the agent as any failed action is, not held.
  const gated = waves.length > 1 || policy.failureAction === "rollback";
  const outcomes: Outcome<RecreateAction>[] = [];
  const done: RecreateAction[] = [];
  for (const [index, wave] of waves.entries()) {
    const results = await Promise.all(wave.map((action) => options.run(action)));
    outcomes.push(...results);
    done.push(...wave);
    if (!gated) continue;
    const failed = results.filter((r) => !r.ok).map((r) => r.action.name);
    const unhealthy = failed.length > 0 ? [] : await waitHealthy(wave, options);
    const problems = [...failed.map((name) => `${name} did not recreate`), ...unhealthy];
    if (problems.length === 0) continue;
    const rest = waves.slice(index + 1).flat();
    const why = `wave ${index + 1} of ${waves.length} failed: ${problems.join("; ")}`;
    const previous = options.previous[wave[0]?.resource ?? ""];
    if (policy.failureAction === "rollback" && previous) {
      outcomes.push(...(await rollBack(done, previous.spec as ContainerSpec, options)));
      outcomes.push(...stopped(wave, ROLLOUT_CODES.rolledBack, `${why}; rolled back to the previous spec`));
    } else {
      const reason =
        policy.failureAction === "rollback"
          ? `${why}; nothing to roll back to (no previous spec on this node), paused`
          : `${why}; update paused`;
      outcomes.push(...stopped(wave, ROLLOUT_CODES.paused, reason));
    }
    outcomes.push(...stopped(rest, ROLLOUT_CODES.paused, `not recreated: ${why}`));
    break;
  }
  return outcomes;
}

function stopped(actions: readonly RecreateAction[], code: string, error: string): Outcome<RecreateAction>[] {
  // The rollout stopped on purpose: the resource stays as it is until a new slice.
  return actions.map((action) => ({ action, ok: false, code, disposition: "hold" as const, error, ms: 0 }));
}

/** Puts the replaced replicas back on the previous spec. */
async function rollBack(
  actions: readonly RecreateAction[],
  spec: ContainerSpec,
  options: RolloutOptions,
): Promise<Outcome<RecreateAction>[]> {
  const current = await listed(options);
  const back = actions.map((action): RecreateAction => {
    // A replica whose new container never came up still holds its old, removed id: recreating
    // from it is a create (removing what is gone is not an error), so every replica comes back.
    const container = current.find((c) => c.name === action.name);
    return {
      ...action,
      containerId: container?.id ?? action.containerId,
      spec,
      hash: specHash(spec),
      fieldHashes: fieldHashes(spec),
      changed: [],
      reason: "rollback to the previous spec",
    };
  });
  return Promise.all(back.map((action) => options.run(action)));
}

/** Waits until the wave's new containers are ready; returns what failed (empty: all ready). */
async function waitHealthy(wave: readonly RecreateAction[], options: RolloutOptions): Promise<string[]> {
  const deadline = Date.now() + healthBudgetMs(wave[0]?.spec, options.monitorMs ?? 1000);
  const poll = options.pollMs ?? 250;
  for (;;) {
    const current = await listed(options);
    const verdicts = wave.map((action) => verdict(action, current, options.monitorMs ?? 1000));
    const failures = verdicts.filter((v): v is { failed: string } => "failed" in v).map((v) => v.failed);
    if (failures.length > 0) return failures;
    if (verdicts.every((v) => "ready" in v)) return [];
    if (Date.now() >= deadline) {
      return wave
        .filter((_, i) => !("ready" in verdicts[i]!))
        .map((a) => `${a.name} not healthy within ${Math.round(healthBudgetMs(a.spec, 0) / 1000)} s`);
    }
    if (options.signal.aborted) return ["the node is stopping"];
    await new Promise((resolve) => setTimeout(resolve, poll));
  }
}

type Verdict = { ready: true } | { failed: string } | { waiting: true };

function verdict(action: RecreateAction, current: readonly ObservedContainer[], monitorMs: number): Verdict {
  const container = current.find((c) => c.name === action.name && c.hash === action.hash);
  if (!container) return { failed: `${action.name} is gone` };
  if (container.health === "unhealthy") return { failed: `${action.name} is failing its health check` };
  if (container.state === "exited" || container.state === "dead")
    return { failed: `${action.name} ${container.state}` };
  if (container.state !== "running") return { waiting: true };
  if (action.spec.healthcheck) return container.health === "healthy" ? { ready: true } : { waiting: true };
  // Without a health check, a replica that keeps running for the monitor period counts as started.
  return Date.now() - Date.parse(container.createdAt) >= monitorMs ? { ready: true } : { waiting: true };
}

/** How long Docker may take to call a replica healthy, by its own settings (Docker's defaults otherwise). */
function healthBudgetMs(spec: ContainerSpec | undefined, monitorMs: number): number {
  const check = spec?.healthcheck;
  if (!check) return monitorMs + 10_000;
  const interval = check.intervalMs ?? 30_000;
  const timeout = check.timeoutMs ?? 30_000;
  return (check.startPeriodMs ?? 0) + (interval + timeout) * ((check.retries ?? 3) + 1) + 5_000;
}

function listed(options: RolloutOptions): Promise<ObservedContainer[]> {
  return options.engine.listOwned(options.node);
}
