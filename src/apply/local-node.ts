// The embedded default node: with no tree configured, TreeScale plans and converges on this
// machine's engine, and records what it applied under $TREESCALE_HOME so prune knows what it owns.
import { type ActionOutcome, executeContainerPlan, type ProgressSink } from "../../controllers/container.js";
import type { ContainerEngine } from "../drivers/engine.js";
import type { ObservedContainer } from "../model/observed.js";
import type { DesiredState } from "../model/resources.js";
import type { Plan } from "../plan/actions.js";
import { planContainers } from "../plan/container-plan.js";
import type { NodeInfo } from "../plan/placement.js";
import { type LastApplied, LastAppliedStore } from "../state/last-applied.js";

export type LocalNodeOptions = { name: string; home: string; engine: ContainerEngine };

export type PlannedChange = { plan: Plan; observed: ObservedContainer[]; lastApplied: LastApplied };

export class LocalNode {
  readonly name: string;
  readonly engine: ContainerEngine;
  readonly #store: LastAppliedStore;

  constructor(options: LocalNodeOptions) {
    this.name = options.name;
    this.engine = options.engine;
    this.#store = new LastAppliedStore(options.home, options.name);
  }

  /** The node as placement sees it: its tags come from the server of the same name, when declared. */
  info(desired: DesiredState): NodeInfo {
    return { name: this.name, tags: desired.servers[this.name]?.tags ?? [] };
  }

  async plan(desired: DesiredState, prune: boolean): Promise<PlannedChange> {
    // The list call doubles as the reachability check: a separate ping would cost a round trip.
    const [observed, lastApplied] = await Promise.all([this.engine.listOwned(this.name), this.#store.read()]);
    const plan = planContainers({
      desired: desired.containers,
      nodes: [this.info(desired)],
      observed,
      inventories: { [this.name]: lastApplied.inventory },
      prune,
    });
    return { plan, observed, lastApplied };
  }

  async apply(
    desired: DesiredState,
    change: PlannedChange,
    options: { progress: ProgressSink; concurrency: number; stopTimeoutSeconds: number },
  ): Promise<{ outcomes: ActionOutcome[]; generation: number }> {
    const generation = change.lastApplied.generation + (change.plan.actions.length > 0 ? 1 : 0);
    const outcomes = await executeContainerPlan(change.plan.actions, {
      ...options,
      engine: this.engine,
      generation,
    });
    const after = change.plan.actions.length > 0 ? await this.engine.listOwned(this.name) : change.observed;
    await this.#store.write({
      generation,
      appliedAt: new Date().toISOString(),
      inventory: recordInventory(desired, after, change.lastApplied),
    });
    return { outcomes, generation };
  }
}

/**
 * What this node owns after an apply: every declared resource, plus any undeclared resource
 * that still has containers here (a failed or skipped prune), so a later prune can still remove it.
 */
function recordInventory(
  desired: DesiredState,
  observed: readonly ObservedContainer[],
  previous: LastApplied,
): LastApplied["inventory"] {
  const inventory: LastApplied["inventory"] = {};
  for (const container of observed) {
    const known =
      desired.containers[container.resource] !== undefined || previous.inventory[container.resource];
    if (!known) continue;
    const entry = inventory[container.resource] ?? { replicas: [] };
    entry.replicas.push(container.replica);
    inventory[container.resource] = entry;
  }
  for (const entry of Object.values(inventory)) entry.replicas.sort((a, b) => a - b);
  return inventory;
}
