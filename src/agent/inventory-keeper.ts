// The node's record of what it owns, per stack and resource: kept current after every reconcile
// and written one snapshot at a time, so prune only ever removes what this node applied.
import type { SliceDocument } from "../model/wire.js";
import { InventoryStore, type LastApplied } from "../state/stack-files.js";
import type { Clock } from "../util/clock.js";

export class InventoryKeeper {
  readonly #records = new Map<
    string,
    { state: LastApplied; store: InventoryStore; writing: Promise<void> }
  >();

  constructor(
    private readonly home: string,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly onWriteError: (error: unknown) => void,
  ) {}

  async load(stacks: readonly string[]): Promise<void> {
    await Promise.all(
      stacks.map(async (stack) => {
        const store = new InventoryStore(this.home, this.node, stack);
        this.#records.set(stack, { state: await store.read(), store, writing: Promise.resolve() });
      }),
    );
  }

  /** `kind/name` → replicas recorded for the stack. */
  inventory(stack: string): LastApplied["inventory"] {
    return this.#records.get(stack)?.state.inventory ?? {};
  }

  /** Resolves when every snapshot recorded so far is written (or its failure reported). */
  async flushed(): Promise<void> {
    await Promise.all([...this.#records.values()].map((r) => r.writing));
  }

  /**
   * A resource stays recorded while it has objects here (even after it left the slice, so a later
   * prune can still remove it) or while the slice declares it.
   */
  record(key: string, replicas: readonly number[], slice: SliceDocument): Promise<void> {
    const record = this.#record(slice.stack);
    const declared = slice.resources[key] !== undefined;
    const known = declared || record.state.inventory[key] !== undefined;
    const inventory = { ...record.state.inventory };
    if (declared || (replicas.length > 0 && known))
      inventory[key] = { replicas: [...replicas].sort((a, b) => a - b) };
    else delete inventory[key];
    record.state = {
      generation: slice.generation,
      appliedAt: new Date(this.clock.now()).toISOString(),
      inventory,
    };
    const snapshot = record.state;
    record.writing = record.writing.then(() => record.store.write(snapshot)).catch(this.onWriteError);
    return record.writing;
  }

  #record(stack: string) {
    let record = this.#records.get(stack);
    if (!record) {
      record = {
        state: { generation: 0, appliedAt: "", inventory: {} },
        store: new InventoryStore(this.home, this.node, stack),
        writing: Promise.resolve(),
      };
      this.#records.set(stack, record);
    }
    return record;
  }
}
