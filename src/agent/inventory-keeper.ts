// The node's record of what it owns, per resource: kept current after every reconcile and
// written one snapshot at a time, so prune only ever removes what this node applied.
import type { ObservedContainer } from "../model/observed.js";
import type { LastApplied, LastAppliedStore } from "../state/last-applied.js";
import type { Clock } from "../util/clock.js";
import type { SliceDocument } from "./slice.js";

export class InventoryKeeper {
  #state: LastApplied = { generation: 0, appliedAt: "", inventory: {} };
  #writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: LastAppliedStore,
    private readonly clock: Clock,
    private readonly onWriteError: (error: unknown) => void,
  ) {}

  async load(): Promise<void> {
    this.#state = await this.store.read();
  }

  get inventory(): LastApplied["inventory"] {
    return this.#state.inventory;
  }

  /** Resolves when every snapshot recorded so far is written (or its failure reported). */
  flushed(): Promise<void> {
    return this.#writing;
  }

  /**
   * A resource stays recorded while it has containers here (even after it left the slice, so a
   * later prune can still remove it) or while the slice declares it.
   */
  record(
    resource: string,
    containers: readonly Pick<ObservedContainer, "resource" | "replica">[],
    slice: SliceDocument,
  ): Promise<void> {
    const replicas = containers
      .filter((c) => c.resource === resource)
      .map((c) => c.replica)
      .sort((a, b) => a - b);
    const declared = slice.containers[resource] !== undefined;
    const known = declared || this.#state.inventory[resource] !== undefined;
    const inventory = { ...this.#state.inventory };
    if (declared || (replicas.length > 0 && known)) inventory[resource] = { replicas };
    else delete inventory[resource];
    this.#state = {
      generation: slice.generation,
      appliedAt: new Date(this.clock.now()).toISOString(),
      inventory,
    };
    const snapshot = this.#state;
    this.#writing = this.#writing.then(() => this.store.write(snapshot)).catch(this.onWriteError);
    return this.#writing;
  }
}
