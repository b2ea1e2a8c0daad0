// A node's `container.stats`: its containers' figures from the engine, published once a second while
// anyone in the tree subscribes to the event, and nothing sampled while nobody does. A Prometheus
// scrape asks the engine once when nobody follows, and shares that answer with scrapes close behind.
import { errorMessage } from "../errors.js";
import {
  CONTAINER_STATS_EVENT,
  type ContainerStatsPayload,
  type ContainerStatsRow,
  type UsageSnapshot,
} from "../model/usage.js";
import type { UsageSource } from "../reconcile/controller.js";
import { type Clock, systemClock } from "../util/clock.js";

/** The part of the bus the publisher uses. */
export interface StatsBus {
  interested(event: string): boolean;
  watchInterest(event: string, listener: (interested: boolean) => void): () => void;
  publish(event: string, payload: string): void;
}

export type ContainerStatsOptions = {
  node: string;
  bus: StatsBus;
  /** The agent's usage sources (none on a node without an agent). */
  sources: () => readonly UsageSource[];
  clock?: Clock;
  intervalMs?: number;
  /** How long a scrape's answer from the engine serves the scrapes after it. */
  scrapeCacheMs?: number;
};

export class ContainerStatsPublisher {
  readonly #options: ContainerStatsOptions;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #scrapeCacheMs: number;
  #stopWatching: (() => void) | undefined;
  #timer: unknown;
  #following = false;
  #scraped: { at: number; answer: Promise<UsageSnapshot> } | undefined;

  constructor(options: ContainerStatsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#scrapeCacheMs = options.scrapeCacheMs ?? 5000;
  }

  get following(): boolean {
    return this.#following;
  }

  start(): void {
    const { bus } = this.#options;
    // The listener runs inside the bus's interest bookkeeping: act on the flip later, not in it.
    this.#stopWatching = bus.watchInterest(CONTAINER_STATS_EVENT, () => queueMicrotask(() => this.#sync()));
    this.#sync();
  }

  stop(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    this.#unfollow();
  }

  /** The figures for a scrape: the live ones while followed, else one answer of the engine (cached). */
  scrape(signal: AbortSignal): Promise<UsageSnapshot> {
    if (this.#following) return Promise.resolve(this.#snapshot());
    const now = this.#clock.now();
    if (this.#scraped && now - this.#scraped.at < this.#scrapeCacheMs) return this.#scraped.answer;
    const answer = merge(
      Promise.all(
        this.#options
          .sources()
          .map((source) =>
            source.sample(signal).catch((error: unknown): UsageSnapshot => ({ error: errorMessage(error) })),
          ),
      ),
    );
    this.#scraped = { at: now, answer };
    return answer;
  }

  #sync(): void {
    const wanted = this.#stopWatching !== undefined && this.#options.bus.interested(CONTAINER_STATS_EVENT);
    if (wanted && !this.#following) this.#follow();
    else if (!wanted && this.#following) this.#unfollow();
  }

  #follow(): void {
    this.#following = true;
    for (const source of this.#options.sources()) source.follow();
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
  }

  #unfollow(): void {
    if (!this.#following) return;
    this.#following = false;
    this.#clock.clearTimeout(this.#timer);
    for (const source of this.#options.sources()) source.unfollow();
  }

  #tick(): void {
    if (!this.#following) return;
    const snapshot = this.#snapshot();
    const payload: ContainerStatsPayload = {
      node: this.#options.node,
      at: new Date(this.#clock.now()).toISOString(),
      containers: "rows" in snapshot ? snapshot.rows : [],
      ...("error" in snapshot ? { error: snapshot.error } : {}),
    };
    this.#options.bus.publish(CONTAINER_STATS_EVENT, JSON.stringify(payload));
    this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs);
  }

  #snapshot(): UsageSnapshot {
    return combine(this.#options.sources().map((source) => source.current()));
  }
}

/** One snapshot of several sources: the first error, or every row. */
function combine(snapshots: readonly UsageSnapshot[]): UsageSnapshot {
  const rows: ContainerStatsRow[] = [];
  for (const snapshot of snapshots) {
    if ("error" in snapshot) return snapshot;
    rows.push(...snapshot.rows);
  }
  return { rows };
}

async function merge(snapshots: Promise<UsageSnapshot[]>): Promise<UsageSnapshot> {
  return combine(await snapshots);
}
