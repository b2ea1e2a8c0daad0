// The last minutes of each container's figures from `container.stats`, as columns uPlot draws
// directly (times, then one array per series), bounded so an open page holds constant memory.
import type { ContainerStatsPayload, ContainerStatsRow } from "../model/usage.js";

export const SERIES = [
  "cpuPercent",
  "memoryBytes",
  "netRxBytes",
  "netTxBytes",
  "blockReadBytes",
  "blockWriteBytes",
] as const;
export type SeriesName = (typeof SERIES)[number];

/** One container's samples: seconds since the epoch, then each series, oldest first. */
export type History = {
  latest: ContainerStatsRow;
  times: number[];
  series: Record<SeriesName, (number | null)[]>;
};

export class StatsHistory {
  readonly #byContainer = new Map<string, History>();

  constructor(
    /** Samples kept per container (at one a second, this many seconds). */
    private readonly capacity = 300,
  ) {}

  /** Records an event; returns the names of containers whose figures changed (a new History object each). */
  add(event: ContainerStatsPayload): string[] {
    const at = Date.parse(event.at) / 1000;
    const changed: string[] = [];
    for (const stats of event.containers) {
      const previous = this.#byContainer.get(stats.name);
      // The columns grow in place (uPlot reads them as they are); the wrapper is new, so a view that
      // compares by identity sees the change.
      const history: History = previous
        ? { ...previous, latest: stats }
        : { latest: stats, times: [], series: emptySeries() };
      history.times.push(at);
      for (const name of SERIES) history.series[name].push(stats[name]);
      if (history.times.length > this.capacity) {
        history.times.shift();
        for (const name of SERIES) history.series[name].shift();
      }
      this.#byContainer.set(stats.name, history);
      changed.push(stats.name);
    }
    return changed;
  }

  of(name: string): History | undefined {
    return this.#byContainer.get(name);
  }
}

function emptySeries(): Record<SeriesName, (number | null)[]> {
  return Object.fromEntries(SERIES.map((name) => [name, []])) as unknown as Record<
    SeriesName,
    (number | null)[]
  >;
}
