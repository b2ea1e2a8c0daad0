// The agent's per-resource conditions, and the one place that announces their changes.
import type { Clock } from "../util/clock.js";
import type { SliceDocument } from "./slice.js";
import type { ConditionType, ResourceStatus } from "./status.js";

export type StatusUpdate = {
  condition: ConditionType;
  reason: string;
  message: string;
  ready?: number;
};

export class StatusBook {
  readonly #statuses = new Map<string, ResourceStatus>();

  constructor(
    private readonly node: string,
    private readonly clock: Clock,
    private readonly announce: (status: ResourceStatus) => void,
  ) {}

  values(): ResourceStatus[] {
    return [...this.#statuses.values()];
  }

  delete(resource: string): void {
    this.#statuses.delete(resource);
  }

  /** Records a status for the slice's generation; announces it only when something changed. */
  set(resource: string, slice: SliceDocument, update: StatusUpdate): void {
    const previous = this.#statuses.get(resource);
    if (
      previous?.condition === update.condition &&
      previous.reason === update.reason &&
      previous.observedGeneration === slice.generation &&
      previous.message === update.message
    ) {
      return;
    }
    const status: ResourceStatus = {
      resource,
      node: this.node,
      condition: update.condition,
      reason: update.reason,
      message: update.message,
      observedGeneration: slice.generation,
      desired: slice.containers[resource]?.replicas.length ?? 0,
      ready: update.ready ?? previous?.ready ?? 0,
      since: new Date(this.clock.now()).toISOString(),
    };
    this.#statuses.set(resource, status);
    this.announce(status);
  }

  /** A new slice arrived: resources it dropped are forgotten, the rest wait to be reconciled. */
  restart(slice: SliceDocument): void {
    for (const [resource, status] of this.#statuses) {
      if (!slice.containers[resource]) this.#statuses.delete(resource);
      else
        this.#statuses.set(resource, {
          ...status,
          condition: "Reconciling",
          reason: "NewGeneration",
          message: "waiting to reconcile",
        });
    }
  }

  /** Every resource of the slice is Ready or Stalled at the slice's generation. */
  settled(slice: SliceDocument): boolean {
    return Object.keys(slice.containers).every((resource) => {
      const status = this.#statuses.get(resource);
      return (
        status !== undefined &&
        status.observedGeneration === slice.generation &&
        status.condition !== "Reconciling"
      );
    });
  }
}
