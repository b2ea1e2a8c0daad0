// Objects one kind is about to stop, kept out of what the kinds depending on it see (a balancer stops
// dispatching to a container before the container is stopped) until those kinds have let go: the
// drain that makes a rolling recreate behind a balancer fail no request.
import { errorMessage } from "../errors.js";
import type { NodeController, ObservedObject, Observer, SliceEntry } from "../reconcile/controller.js";
import type { Clock } from "../util/clock.js";

type Watched = { controller: NodeController; observer: Observer<ObservedObject> };

export type ReleasesHost = {
  kinds: ReadonlyMap<string, Watched>;
  /** A kind's slice entries per stack on this node. */
  entries(kind: string): { stack: string; entries: Readonly<Record<string, SliceEntry>> }[];
  /** Re-plans the kinds that plan from `kind`'s objects. */
  enqueueDependents(kind: string): void;
  clock: Clock;
  log(line: string): void;
};

/** How often a release looks again whether the dependents have let go. */
const POLL_MS = 200;
/** Beyond what a dependent says it may still hold: the time to program its first change. */
const PROGRAMMING_GRACE_MS = 5_000;

export class Releases {
  /** kind → IDs of its objects being released. */
  readonly #leaving = new Map<string, Set<string>>();

  constructor(private readonly host: ReleasesHost) {}

  /** `kind`'s objects as its dependents see them: without the ones leaving (forgetting those that are gone). */
  visible(kind: string, items: readonly ObservedObject[]): ObservedObject[] {
    const leaving = this.#forgetGone(kind, items);
    if (!leaving || leaving.size === 0) return [...items];
    return items.filter((item) => item.id === undefined || !leaving.has(item.id));
  }

  /** IDs held as leaving, over every kind: what a release leaves behind until its objects are gone. */
  get size(): number {
    let size = 0;
    for (const ids of this.#leaving.values()) size += ids.size;
    return size;
  }

  /** `kind`'s objects that are leaving and still there. */
  leaving(kind: string, items: readonly ObservedObject[]): ObservedObject[] {
    const leaving = this.#leaving.get(kind);
    if (!leaving || leaving.size === 0) return [];
    return items.filter((item) => item.id !== undefined && leaving.has(item.id));
  }

  async release(kind: string, ids: readonly string[], signal: AbortSignal): Promise<() => void> {
    const leaving = this.#leaving.get(kind) ?? new Set<string>();
    this.#leaving.set(kind, leaving);
    for (const id of ids) leaving.add(id);
    const readmit = () => {
      for (const id of ids) leaving.delete(id);
      this.host.enqueueDependents(kind);
    };
    const began = this.host.clock.now();
    const own = this.host.kinds.get(kind)?.observer;
    // Dependents re-plan from a fresh view: a replacement that just turned healthy must be in the
    // dispatch before the object it replaces leaves it, or nothing would be.
    await own
      ?.relist()
      .catch((error: unknown) => this.host.log(`${kind}: cannot list: ${errorMessage(error)}`));
    const present = own?.items() ?? [];
    // A release that succeeded is not readmitted: its objects are gone, and so are their IDs here. Pruned
    // on every release, not only when a dependent looks, so a node with no dependent kind does not keep
    // the ID of every object it ever replaced.
    this.#forgetGone(kind, present, ids);
    const objects = present.filter((item) => item.id !== undefined && ids.includes(item.id));
    const dependents = [...this.host.kinds.values()].filter(
      ({ controller }) => controller.holding && controller.dependsOn?.includes(kind),
    );
    if (objects.length === 0 || dependents.length === 0) return readmit;
    this.host.enqueueDependents(kind);
    let deadline: number | undefined;
    while (!signal.aborted) {
      const holdMs = this.#holding(objects, dependents);
      if (holdMs === 0) break;
      deadline ??= began + holdMs + PROGRAMMING_GRACE_MS;
      if (this.host.clock.now() >= deadline) {
        this.host.log(
          `${kind}: ${objects.length} object(s) still held by ${dependents.map((d) => d.controller.kind).join(", ")} after ${this.host.clock.now() - began} ms; stopping them anyway`,
        );
        break;
      }
      await new Promise<void>((resolve) => this.host.clock.setTimeout(resolve, POLL_MS));
      await Promise.all(
        dependents.map(({ controller, observer }) =>
          observer
            .relist()
            .catch((error: unknown) =>
              this.host.log(`${controller.kind}: cannot list: ${errorMessage(error)}`),
            ),
        ),
      );
    }
    return readmit;
  }

  /** Drops the leaving IDs of `kind` that `items` (a fresh list) no longer shows, except those in `keep`. */
  #forgetGone(
    kind: string,
    items: readonly ObservedObject[],
    keep: readonly string[] = [],
  ): Set<string> | undefined {
    const leaving = this.#leaving.get(kind);
    if (!leaving) return undefined;
    const present = new Set(items.map((item) => item.id));
    for (const id of leaving) if (!present.has(id) && !keep.includes(id)) leaving.delete(id);
    return leaving;
  }

  #holding(objects: readonly ObservedObject[], dependents: readonly Watched[]): number {
    let most = 0;
    for (const { controller, observer } of dependents) {
      for (const { stack, entries } of this.host.entries(controller.kind)) {
        const observed = observer.items().filter((item) => item.stack === stack);
        most = Math.max(most, controller.holding?.(objects, observed, entries) ?? 0);
      }
    }
    return most;
  }
}
