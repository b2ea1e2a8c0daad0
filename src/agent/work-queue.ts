// A level-triggered work queue, as controller-runtime has: keys (resources) rather than
// events, so ten changes to one resource cost one reconcile. A key is never reconciled twice
// at once; a key added while it runs is run again afterwards; failures come back with per-key
// exponential backoff under a global rate limit; a terminal error is reported and not retried.
import { TreescaleError } from "../errors.js";
import type { Clock } from "../util/clock.js";

/** A reconcile that retrying will not fix: reported, and not retried until the key is added again. */
export class TerminalError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("RECONCILE_STALLED", message, options);
  }
}

export type ReconcileResult = { requeueAfterMs?: number } | undefined;

export type QueueEvents = {
  /** A reconcile failed and will be retried after `retryInMs`. */
  failed?(key: string, error: unknown, retryInMs: number): void;
  /** A reconcile failed for good; it is not retried until the key is added again. */
  terminal?(key: string, error: unknown): void;
};

export type WorkQueueOptions = {
  clock: Clock;
  reconcile: (key: string) => Promise<ReconcileResult>;
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Global retry budget: at most `retryBurst` retries at once, refilled at `retriesPerSecond`. */
  retriesPerSecond?: number;
  retryBurst?: number;
  events?: QueueEvents;
};

export class WorkQueue {
  readonly #options: Required<Omit<WorkQueueOptions, "events">> & { events: QueueEvents };
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; handle: unknown }>();
  #active = 0;
  #tokens: number;
  #tokensAt: number;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.#options = {
      concurrency: 4,
      baseDelayMs: 100,
      maxDelayMs: 60_000,
      retriesPerSecond: 10,
      retryBurst: 100,
      events: {},
      ...options,
    };
    this.#tokens = this.#options.retryBurst;
    this.#tokensAt = options.clock.now();
  }

  /** Queue a key now. Deduplicated: a key waiting already is not queued twice. */
  add(key: string): void {
    if (this.#stopped) return;
    this.#cancelTimer(key);
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Queue a key after a delay; an earlier pending time for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#options.clock.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    this.#cancelTimer(key);
    const handle = this.#options.clock.setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    this.#timers.set(key, { at, handle });
  }

  /** How many times in a row this key has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Reconciles running now. */
  get active(): number {
    return this.#active;
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const key of [...this.#timers.keys()]) this.#cancelTimer(key);
    this.#queue.length = 0;
    this.#queued.clear();
  }

  #cancelTimer(key: string): void {
    const timer = this.#timers.get(key);
    if (!timer) return;
    this.#options.clock.clearTimeout(timer.handle);
    this.#timers.delete(key);
  }

  #pump(): void {
    while (!this.#stopped && this.#active < this.#options.concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#active += 1;
      void this.#run(key);
    }
    if (this.#queue.length === 0 && this.#active === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async #run(key: string): Promise<void> {
    try {
      const result = await this.#options.reconcile(key);
      this.#failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (error) {
      if (error instanceof TerminalError) {
        this.#failures.delete(key);
        this.#options.events.terminal?.(key, error);
      } else {
        const failures = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, failures);
        const delay = Math.max(this.#backoff(failures), this.#retryBudgetDelay());
        this.#options.events.failed?.(key, error, delay);
        this.addAfter(key, delay);
      }
    } finally {
      this.#processing.delete(key);
      this.#active -= 1;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }

  #backoff(failures: number): number {
    return Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** (failures - 1));
  }

  /** Token bucket shared by all keys: how long until this retry may run. */
  #retryBudgetDelay(): number {
    const now = this.#options.clock.now();
    const rate = this.#options.retriesPerSecond / 1000;
    this.#tokens = Math.min(this.#options.retryBurst, this.#tokens + (now - this.#tokensAt) * rate);
    this.#tokensAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / rate);
  }
}
