// The agent's per-resource conditions, per stack, and the one place that announces their changes.
import type { ConditionType, ResourceStatus, SliceDocument } from "../model/wire.js";
import type { Clock } from "../util/clock.js";

export type StatusUpdate = {
  condition: ConditionType;
  reason: string;
  message: string;
  ready?: number;
};

export class StatusBook {
  /** stack → `kind/name` → status. */
  readonly #statuses = new Map<string, Map<string, ResourceStatus>>();

  constructor(
    private readonly node: string,
    private readonly clock: Clock,
    private readonly announce: (status: ResourceStatus) => void,
  ) {}

  values(stack: string): ResourceStatus[] {
    return [...(this.#statuses.get(stack)?.values() ?? [])];
  }

  delete(stack: string, key: string): void {
    this.#statuses.get(stack)?.delete(key);
  }

  /** Records a status for the slice's generation; announces it only when something changed. */
  set(key: string, slice: SliceDocument, update: StatusUpdate): void {
    const book = this.#book(slice.stack);
    const previous = book.get(key);
    if (
      previous?.condition === update.condition &&
      previous.reason === update.reason &&
      previous.observedGeneration === slice.generation &&
      previous.message === update.message &&
      (update.ready === undefined || previous.ready === update.ready)
    ) {
      return;
    }
    const status: ResourceStatus = {
      stack: slice.stack,
      resource: key,
      node: this.node,
      condition: update.condition,
      reason: update.reason,
      message: update.message,
      observedGeneration: slice.generation,
      desired: slice.resources[key]?.replicas.length ?? 0,
      ready: update.ready ?? previous?.ready ?? 0,
      since: new Date(this.clock.now()).toISOString(),
    };
    book.set(key, status);
    this.announce(status);
  }

  /** At start: every resource of a held slice is listed, as not evaluated yet, until its first reconcile. */
  seed(slice: SliceDocument): void {
    const book = this.#book(slice.stack);
    for (const [key, entry] of Object.entries(slice.resources)) {
      if (book.has(key)) continue;
      book.set(key, {
        stack: slice.stack,
        resource: key,
        node: this.node,
        condition: "Reconciling",
        reason: "NotEvaluated",
        message: "not evaluated since the node started",
        observedGeneration: slice.generation,
        desired: entry.replicas.length,
        ready: 0,
        since: new Date(this.clock.now()).toISOString(),
      });
    }
  }

  /** A new slice arrived: resources it dropped are forgotten, the rest wait to be reconciled. */
  restart(slice: SliceDocument): void {
    const book = this.#book(slice.stack);
    for (const [key, status] of book) {
      if (!slice.resources[key]) book.delete(key);
      else
        book.set(key, {
          ...status,
          condition: "Reconciling",
          reason: "NewGeneration",
          message: "waiting to reconcile",
        });
    }
  }

  /** Every resource of the slice is Ready or Stalled at the slice's generation. */
  settled(slice: SliceDocument): boolean {
    const book = this.#statuses.get(slice.stack);
    return Object.keys(slice.resources).every((key) => {
      const status = book?.get(key);
      return (
        status !== undefined &&
        status.observedGeneration === slice.generation &&
        status.condition !== "Reconciling"
      );
    });
  }

  #book(stack: string): Map<string, ResourceStatus> {
    let book = this.#statuses.get(stack);
    if (!book) {
      book = new Map();
      this.#statuses.set(stack, book);
    }
    return book;
  }
}
