// Keeps a node's view of its owned containers current, as client-go's informers do: watch the
// engine's event stream, list, then relist on every burst of events and after any gap in the
// stream (reconnecting with capped, jittered backoff). Tells its owner which resources changed.
import type {
  ContainerEngine,
  ContainerRestartCounter,
  EngineEvent,
  EngineEventSource,
} from "../../src/drivers/engine.js";
import { errorMessage } from "../../src/errors.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import type { Observer } from "../../src/reconcile/controller.js";
import type { Clock } from "../../src/util/clock.js";

export type InformerOptions = {
  node: string;
  engine: Pick<ContainerEngine, "listOwned" | "ping">;
  events: EngineEventSource;
  /** Where restart counts are read; without it every container's `restarts` stays null. */
  restarts?: ContainerRestartCounter;
  clock: Clock;
  /** Aborted when the node stops: a list under way (an engine that does not answer) ends at once. */
  signal?: AbortSignal;
  /** Resources whose containers changed, with the engine time of the event that revealed it (ms). */
  onChange(changed: { stack: string; resource: string }[], eventAt: number | undefined): void;
  onError?(message: string): void;
  maxBackoffMs?: number;
  /** Events arrive in bursts (kill, die, destroy within milliseconds): wait this long, then list once. */
  coalesceMs?: number;
  /**
   * Lists are at least this far apart while events keep coming (default 0): an apply of many
   * containers makes a flood of events, and a list per burst competes with the apply for the engine.
   */
  minListIntervalMs?: number;
  /** A list that does not yet show an event's change is repeated after this long, then twice as long each time (5 times). */
  confirmMs?: number;
  /**
   * How often the engine is asked whether it still answers (default 5 s): an engine that hangs keeps
   * its event stream open and silent, which would read as "nothing changed" for ever.
   */
  probeMs?: number;
  /** How long a probe may take before the engine counts as not answering (default 3 s). */
  probeTimeoutMs?: number;
};

/**
 * Actions after which the list must show a change. The engine announces some before the list
 * reflects them (a container exiting by itself: `die` comes before its listed state is "exited",
 * and no later event follows), so such an event is confirmed by listing again.
 */
const STATE_CHANGES = new Set([
  "create",
  "start",
  "restart",
  "die",
  "stop",
  "destroy",
  "pause",
  "unpause",
  "oom",
]);
const CONFIRM_ATTEMPTS = 5;
/** Events after which the engine's restart count may have moved (a policy restart is a die, then a start). */
const RESTART_COUNT_CHANGES = new Set(["start", "restart", "die"]);
/** Inspects at once: a node's first list may name hundreds of containers, each read once. */
const COUNT_CONCURRENCY = 4;

export class ContainerInformer implements Observer<ObservedContainer> {
  readonly #options: InformerOptions;
  #cache = new Map<string, ObservedContainer>();
  #stopWatch: (() => void) | undefined;
  #relisting: Promise<void> | undefined;
  #relistAgain = false;
  #pendingEventAt: number | undefined;
  #attempt = 0;
  #coalesceTimer: unknown;
  #listRetryTimer: unknown;
  #listFailures = 0;
  #retryTimer: unknown;
  #confirmTimer: unknown;
  /** Resources (stack and name) named by state-changing events that no list has shown changed yet, with attempts left. */
  readonly #unconfirmed = new Map<string, number>();
  /** Engine time of the oldest event still waiting to show in a list, for the drift report. */
  #unconfirmedEventAt: number | undefined;
  #stopped = false;
  #synced = false;
  #lastListAt = Number.NEGATIVE_INFINITY;
  #error: string | undefined;
  #probeTimer: unknown;
  /** Restart counts read so far, by container id; a container not in it shows null. */
  readonly #restartCounts = new Map<string, number>();
  /** Containers whose count is to be read, in order; at most COUNT_CONCURRENCY reads run at once. */
  readonly #toCount = new Set<string>();
  readonly #counting = new Set<string>();

  constructor(options: InformerOptions) {
    this.#options = options;
  }

  /** Resolves after the first successful list. */
  async start(): Promise<void> {
    this.#watch();
    this.#scheduleProbe();
    await this.relist();
  }

  stop(): void {
    this.#stopped = true;
    this.#stopWatch?.();
    if (this.#coalesceTimer !== undefined) this.#options.clock.clearTimeout(this.#coalesceTimer);
    if (this.#listRetryTimer !== undefined) this.#options.clock.clearTimeout(this.#listRetryTimer);
    if (this.#retryTimer !== undefined) this.#options.clock.clearTimeout(this.#retryTimer);
    if (this.#confirmTimer !== undefined) this.#options.clock.clearTimeout(this.#confirmTimer);
    if (this.#probeTimer !== undefined) this.#options.clock.clearTimeout(this.#probeTimer);
  }

  get synced(): boolean {
    return this.#synced;
  }

  get error(): string | undefined {
    return this.#error;
  }

  items(): ObservedContainer[] {
    return [...this.#cache.values()];
  }

  /** Lists now; concurrent callers share one list, and a call during a list causes one more. */
  relist(): Promise<void> {
    if (this.#relisting) {
      this.#relistAgain = true;
      return this.#relisting;
    }
    this.#relisting = this.#listLoop().finally(() => {
      this.#relisting = undefined;
    });
    return this.#relisting;
  }

  async #listLoop(): Promise<void> {
    do {
      this.#relistAgain = false;
      const eventAt = this.#pendingEventAt;
      this.#pendingEventAt = undefined;
      let fresh: ObservedContainer[];
      this.#lastListAt = this.#options.clock.now();
      try {
        fresh = await this.#options.engine.listOwned(
          this.#options.node,
          this.#options.signal ? { signal: this.#options.signal } : {},
        );
      } catch (error) {
        this.#error = errorMessage(error);
        throw error;
      }
      this.#error = undefined;
      for (const container of fresh) container.restarts = this.#restartCounts.get(container.id) ?? null;
      const changed = diffResources(this.#cache, fresh);
      this.#cache = new Map(fresh.map((c) => [c.id, c]));
      this.#countNewcomers();
      this.#synced = true;
      for (const resource of changed) this.#unconfirmed.delete(resource);
      if (changed.size > 0)
        this.#options.onChange([...changed].map(splitKey), eventAt ?? this.#unconfirmedEventAt);
    } while (this.#relistAgain && !this.#stopped);
    this.#scheduleConfirm();
  }

  /** Each container is inspected once when first listed; after that only its events cause a read. */
  #countNewcomers(): void {
    for (const id of this.#restartCounts.keys()) if (!this.#cache.has(id)) this.#restartCounts.delete(id);
    for (const id of this.#cache.keys()) if (!this.#restartCounts.has(id)) this.#queueCount(id);
  }

  #queueCount(id: string): void {
    if (!this.#options.restarts || this.#stopped) return;
    this.#toCount.add(id);
    this.#drainCounts();
  }

  #drainCounts(): void {
    const counter = this.#options.restarts;
    if (!counter) return;
    for (const id of this.#toCount) {
      if (this.#counting.size >= COUNT_CONCURRENCY) return;
      // A read already under way may predate the event: the id stays queued for one more read.
      if (this.#counting.has(id)) continue;
      this.#toCount.delete(id);
      this.#counting.add(id);
      void this.#count(counter, id).finally(() => {
        this.#counting.delete(id);
        this.#drainCounts();
      });
    }
  }

  async #count(counter: ContainerRestartCounter, id: string): Promise<void> {
    let count: number | null;
    try {
      count = await counter.restartCount(id, this.#options.signal ? { signal: this.#options.signal } : {});
    } catch (error) {
      // A container removed meanwhile has no count to show; one still listed is said to have none readable.
      if (!this.#stopped && this.#cache.has(id)) this.#options.onError?.(errorMessage(error));
      return;
    }
    if (this.#stopped || count === null) return;
    this.#restartCounts.set(id, count);
    const cached = this.#cache.get(id);
    if (!cached || cached.restarts === count) return;
    this.#cache.set(id, { ...cached, restarts: count });
    this.#options.onChange([{ stack: cached.stack, resource: cached.resource }], undefined);
  }

  #scheduleConfirm(): void {
    if (this.#unconfirmed.size === 0) {
      this.#unconfirmedEventAt = undefined;
      return;
    }
    if (this.#stopped || this.#confirmTimer !== undefined) return;
    // A loaded engine can take a while to list what it announced: 50, 100, 200, 400, 800 ms.
    const step = CONFIRM_ATTEMPTS - Math.max(...this.#unconfirmed.values());
    for (const [resource, left] of this.#unconfirmed) {
      if (left <= 1) this.#unconfirmed.delete(resource);
      else this.#unconfirmed.set(resource, left - 1);
    }
    this.#confirmTimer = this.#options.clock.setTimeout(
      () => {
        this.#confirmTimer = undefined;
        void this.#relistOrRetry();
      },
      (this.#options.confirmMs ?? 50) * 2 ** step,
    );
  }

  /**
   * A list that fails (the engine briefly unreachable) is tried again with backoff: otherwise the
   * cache would stay stale, and drift unnoticed, until the periodic resync.
   */
  async #relistOrRetry(): Promise<void> {
    try {
      await this.relist();
      this.#listFailures = 0;
    } catch (error) {
      this.#options.onError?.(errorMessage(error));
      if (this.#stopped || this.#listRetryTimer !== undefined) return;
      this.#listFailures += 1;
      const delay = Math.min(this.#options.maxBackoffMs ?? 10_000, 200 * 2 ** (this.#listFailures - 1));
      this.#listRetryTimer = this.#options.clock.setTimeout(() => {
        this.#listRetryTimer = undefined;
        void this.#relistOrRetry();
      }, delay);
    }
  }

  #scheduleProbe(): void {
    if (this.#stopped) return;
    this.#probeTimer = this.#options.clock.setTimeout(() => {
      this.#probeTimer = undefined;
      void this.#probe().finally(() => this.#scheduleProbe());
    }, this.#options.probeMs ?? 5000);
  }

  /**
   * Asks the engine whether it answers. When it stops, every resource is told (their statuses must
   * say so, not keep the last Ready); when it answers again, they are all looked at again.
   */
  async #probe(): Promise<void> {
    const timeoutMs = this.#options.probeTimeoutMs ?? 3000;
    // Not AbortSignal.any: on Node 20 each call leaves a record on the node's long-lived stop signal
    // for good, one per probe (every 5 s) for as long as the node runs.
    const probe = new AbortController();
    const timer = setTimeout(() => probe.abort(), timeoutMs);
    const stop = () => probe.abort();
    this.#options.signal?.addEventListener("abort", stop, { once: true });
    let failure: string | undefined;
    try {
      await this.#options.engine.ping({ signal: probe.signal });
    } catch (error) {
      if (this.#stopped || this.#options.signal?.aborted) return;
      failure = probe.signal.aborted
        ? `the engine did not answer a ping within ${timeoutMs / 1000} s`
        : errorMessage(error);
    } finally {
      clearTimeout(timer);
      this.#options.signal?.removeEventListener("abort", stop);
    }
    const everything = () => [...new Set([...this.#cache.values()].map(keyOf))].map(splitKey);
    if (failure !== undefined) {
      const first = this.#error === undefined;
      this.#error = failure;
      if (first) {
        this.#options.onError?.(failure);
        this.#options.onChange(everything(), undefined);
      }
      return;
    }
    if (this.#error === undefined) return;
    try {
      await this.relist();
    } catch {
      return;
    }
    this.#options.onChange(everything(), undefined);
  }

  #watch(): void {
    if (this.#stopped) return;
    this.#stopWatch = this.#options.events.watchEvents(
      this.#options.node,
      (event: EngineEvent) => {
        this.#attempt = 0;
        this.#pendingEventAt ??= event.time;
        if (RESTART_COUNT_CHANGES.has(event.action)) this.#queueCount(event.containerId);
        if (STATE_CHANGES.has(event.action) || event.action.startsWith("health_status")) {
          this.#unconfirmed.set(keyOf(event), CONFIRM_ATTEMPTS);
          this.#unconfirmedEventAt ??= event.time;
        }
        if (this.#coalesceTimer !== undefined) return;
        const spacing = this.#lastListAt + (this.#options.minListIntervalMs ?? 0) - this.#options.clock.now();
        this.#coalesceTimer = this.#options.clock.setTimeout(
          () => {
            this.#coalesceTimer = undefined;
            void this.#relistOrRetry();
          },
          Math.max(this.#options.coalesceMs ?? 15, spacing),
        );
      },
      (error) => this.#gap(error),
    );
  }

  /** The stream ended: anything may have happened meanwhile, so relist, then watch again after a backoff. */
  #gap(error: unknown): void {
    if (this.#stopped) return;
    this.#options.onError?.(
      `docker event stream interrupted: ${error === undefined ? "ended" : errorMessage(error)}`,
    );
    this.#attempt += 1;
    const cap = this.#options.maxBackoffMs ?? 10_000;
    const delay = Math.min(cap, 100 * 2 ** Math.min(this.#attempt, 10)) * (0.5 + Math.random() / 2);
    this.#retryTimer = this.#options.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#watch();
      void this.#relistOrRetry();
    }, delay);
  }
}

function diffResources(
  before: ReadonlyMap<string, ObservedContainer>,
  after: readonly ObservedContainer[],
): Set<string> {
  const changed = new Set<string>();
  const seen = new Set<string>();
  for (const container of after) {
    seen.add(container.id);
    const old = before.get(container.id);
    if (
      !old ||
      old.state !== container.state ||
      old.hash !== container.hash ||
      old.health !== container.health ||
      old.restarts !== container.restarts
    ) {
      changed.add(keyOf(container));
    }
  }
  for (const [id, container] of before) if (!seen.has(id)) changed.add(keyOf(container));
  return changed;
}

/** Resources are named within their stack: two stacks may both run a `web`. */
function keyOf(item: { stack: string; resource: string }): string {
  return `${item.stack}\u0000${item.resource}`;
}

function splitKey(key: string): { stack: string; resource: string } {
  const [stack = "", resource = ""] = key.split("\u0000");
  return { stack, resource };
}
