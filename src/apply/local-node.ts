// The embedded default node: with no tree configured, TreeScale plans and converges on this
// machine's engine, and records what it applied under $TREESCALE_HOME so prune knows what it owns.
import { type ActionOutcome, executeContainerPlan, type ProgressSink } from "../../controllers/container.js";
import { type SliceDocument, SliceStore } from "../agent/slice.js";
import type { ContainerEngine } from "../drivers/engine.js";
import type { ObservedContainer } from "../model/observed.js";
import type { DesiredState } from "../model/resources.js";
import { canonicalJson } from "../model/spec-hash.js";
import type { Plan } from "../plan/actions.js";
import { type NodeSlice, planContainers, sliceFleet } from "../plan/container-plan.js";
import type { NodeInfo } from "../plan/placement.js";
import { type LastApplied, LastAppliedStore } from "../state/last-applied.js";

export type LocalNodeOptions = { name: string; home: string; engine: ContainerEngine };

export type PlannedChange = {
  plan: Plan;
  observed: ObservedContainer[];
  lastApplied: LastApplied;
  /** The slice this node's agent holds (from a `watch`): kept in step so the agent never reverts an apply. */
  slice: SliceDocument;
};

export class LocalNode {
  readonly name: string;
  readonly engine: ContainerEngine;
  readonly #store: LastAppliedStore;
  readonly #sliceStore: SliceStore;

  constructor(options: LocalNodeOptions) {
    this.name = options.name;
    this.engine = options.engine;
    this.#store = new LastAppliedStore(options.home, options.name);
    this.#sliceStore = new SliceStore(options.home, options.name);
  }

  /** The node as placement sees it: its tags come from the server of the same name, when declared. */
  info(desired: DesiredState): NodeInfo {
    return { name: this.name, tags: desired.servers[this.name]?.tags ?? [] };
  }

  async plan(desired: DesiredState, prune: boolean): Promise<PlannedChange> {
    // The list call doubles as the reachability check: a separate ping would cost a round trip.
    const [observed, lastApplied, slice] = await Promise.all([
      this.engine.listOwned(this.name),
      this.#store.read(),
      this.#sliceStore.read(),
    ]);
    const plan = planContainers({
      desired: desired.containers,
      nodes: [this.info(desired)],
      observed,
      inventories: { [this.name]: lastApplied.inventory },
      prune,
    });
    return { plan, observed, lastApplied, slice };
  }

  async apply(
    desired: DesiredState,
    change: PlannedChange,
    options: { progress: ProgressSink; concurrency: number; stopTimeoutSeconds: number; prune: boolean },
  ): Promise<{ outcomes: ActionOutcome[]; generation: number }> {
    const containers = sliceFleet(desired.containers, [this.info(desired)]).slices[this.name] ?? {};
    const sliceChanged = canonicalJson(containers) !== canonicalJson(change.slice.containers);
    const changed = change.plan.actions.length > 0 || sliceChanged || change.slice.prune !== options.prune;
    const generation = Math.max(change.lastApplied.generation, change.slice.generation) + (changed ? 1 : 0);
    if (changed) {
      await this.#sliceStore.write({ generation, prune: options.prune, containers: copySlice(containers) });
    }
    const outcomes = await executeContainerPlan(change.plan.actions, {
      ...options,
      engine: this.engine,
      generation,
    });
    let after: readonly ObservedContainer[];
    try {
      after = change.plan.actions.length > 0 ? await this.engine.listOwned(this.name) : change.observed;
    } catch (error) {
      // The engine went away after acting: record what the outcomes say, so nothing is forgotten.
      await this.#record(desired, afterOutcomes(change.observed, outcomes), change.lastApplied, generation);
      throw error;
    }
    await this.#record(desired, after, change.lastApplied, generation);
    return { outcomes, generation };
  }

  #record(
    desired: DesiredState,
    observed: readonly Placed[],
    previous: LastApplied,
    generation: number,
  ): Promise<void> {
    return this.#store.write({
      generation,
      appliedAt: new Date().toISOString(),
      inventory: recordInventory(desired, observed, previous),
    });
  }
}

function copySlice(slice: NodeSlice): SliceDocument["containers"] {
  return Object.fromEntries(
    Object.entries(slice).map(([name, entry]) => [name, { spec: entry.spec, replicas: [...entry.replicas] }]),
  );
}

type Placed = Pick<ObservedContainer, "resource" | "replica">;

/** The replicas the outcomes imply: successful removals gone, successful creations present. */
function afterOutcomes(before: readonly ObservedContainer[], outcomes: readonly ActionOutcome[]): Placed[] {
  const removed = new Set(
    outcomes.flatMap((o) => (o.ok && o.action.type === "remove" ? [o.action.containerId] : [])),
  );
  const kept = before.filter((c) => !removed.has(c.id));
  const created = outcomes.filter((o) => o.ok && o.action.type === "create").map((o) => o.action);
  return [...kept, ...created];
}

/**
 * What this node owns after an apply: every declared resource, plus any undeclared resource
 * that still has containers here (a failed or skipped prune), so a later prune can still remove it.
 */
function recordInventory(
  desired: DesiredState,
  observed: readonly Placed[],
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
