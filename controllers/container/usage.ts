// The figures of a node's containers from the engine's own stats streams, opened only while the node
// is followed (someone subscribes to container.stats) and closed when it is not; a scrape while nobody
// follows asks the engine once per running container instead.
import type { ContainerStatsSource } from "../../src/drivers/engine.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import {
  type ContainerStatsRow,
  type ContainerUsage,
  UNKNOWN_USAGE,
  type UsageSnapshot,
} from "../../src/model/usage.js";
import type { Observer, UsageSource } from "../../src/reconcile/controller.js";

type Stream = { stop: () => void; usage: ContainerUsage };

export class ContainerUsageSource implements UsageSource {
  readonly #stats: ContainerStatsSource;
  readonly #observer: () => Observer<ObservedContainer> | undefined;
  readonly #streams = new Map<string, Stream>();
  #following = false;

  /** `observer`: the kind's informer once it runs; its list says which containers exist. */
  constructor(stats: ContainerStatsSource, observer: () => Observer<ObservedContainer> | undefined) {
    this.#stats = stats;
    this.#observer = observer;
  }

  follow(): void {
    this.#following = true;
    const seen = this.#seen();
    if ("items" in seen) this.#openStreams(seen.items);
  }

  unfollow(): void {
    this.#following = false;
    for (const stream of this.#streams.values()) stream.stop();
    this.#streams.clear();
  }

  current(): UsageSnapshot {
    const seen = this.#seen();
    if ("error" in seen) return seen;
    // Containers come and go between snapshots: streams follow the informer's list, once a snapshot.
    if (this.#following) this.#openStreams(seen.items);
    return {
      rows: seen.items.map((item) => rowOf(item, this.#streams.get(item.id)?.usage ?? UNKNOWN_USAGE)),
    };
  }

  async sample(signal: AbortSignal): Promise<UsageSnapshot> {
    const seen = this.#seen();
    if ("error" in seen) return seen;
    const rows = await Promise.all(
      seen.items.map(async (item) => {
        if (item.state !== "running") return rowOf(item, UNKNOWN_USAGE);
        // One container the engine cannot measure leaves its figures unknown, not the others'.
        const usage = await this.#stats.stats(item.id, { signal }).catch(() => UNKNOWN_USAGE);
        return rowOf(item, usage);
      }),
    );
    return { rows };
  }

  #seen(): { items: ObservedContainer[] } | { error: string } {
    const observer = this.#observer();
    if (!observer) return { error: "the node's agent is not observing its engine yet" };
    if (observer.error !== undefined) return { error: `cannot see the engine: ${observer.error}` };
    if (!observer.synced) return { error: "the engine has not been listed yet" };
    return { items: observer.items() };
  }

  /** A stream per running container; those of containers gone or stopped are closed. */
  #openStreams(items: readonly ObservedContainer[]): void {
    const running = new Set(items.filter((item) => item.state === "running").map((item) => item.id));
    for (const [id, stream] of this.#streams) {
      if (running.has(id)) continue;
      stream.stop();
      this.#streams.delete(id);
    }
    for (const id of running) {
      if (this.#streams.has(id)) continue;
      const stream: Stream = { stop: () => undefined, usage: UNKNOWN_USAGE };
      this.#streams.set(id, stream);
      stream.stop = this.#stats.watchStats(
        id,
        (usage) => {
          stream.usage = usage;
        },
        // Ended (stopped, or the engine broke it off): figures unknown; the next snapshot reopens it if it runs.
        () => {
          if (this.#streams.get(id) === stream) this.#streams.delete(id);
        },
      );
    }
  }
}

function rowOf(item: ObservedContainer, usage: ContainerUsage): ContainerStatsRow {
  return {
    id: item.id,
    name: item.name,
    stack: item.stack,
    resource: item.resource,
    replica: item.replica,
    ...usage,
  };
}
