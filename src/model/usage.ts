// What the engines say a container uses, and the `container.stats` event that carries it through the
// tree. The event's shape is a contract with its subscribers (the dashboard, `treescale top`): a figure
// the engine did not give is null, never 0.

export const CONTAINER_STATS_EVENT = "container.stats";

/** One container's figures from its engine's own stats; null: the engine did not say. */
export type ContainerUsage = {
  /** As `docker stats` computes it: share of one CPU × 100 (two busy CPUs: 200). */
  cpuPercent: number | null;
  /** In use, page cache left out (as `docker stats` shows it). */
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  /** Summed over the container's interfaces, since it started. */
  netRxBytes: number | null;
  netTxBytes: number | null;
  blockReadBytes: number | null;
  blockWriteBytes: number | null;
};

export const UNKNOWN_USAGE: ContainerUsage = {
  cpuPercent: null,
  memoryBytes: null,
  memoryLimitBytes: null,
  netRxBytes: null,
  netTxBytes: null,
  blockReadBytes: null,
  blockWriteBytes: null,
};

export type ContainerStatsRow = {
  id: string;
  name: string;
  stack: string;
  resource: string;
  replica: number;
} & ContainerUsage;

/**
 * A node's full snapshot: every container TreeScale manages there, each time. With `error`, the node
 * could not see its engine: `containers` is empty because nothing is known, not because nothing runs.
 */
export type ContainerStatsPayload = {
  node: string;
  /** ISO time of the snapshot. */
  at: string;
  containers: ContainerStatsRow[];
  error?: string;
};

/** What a node's stats source answers: the rows, or why it cannot see them. */
export type UsageSnapshot = { rows: ContainerStatsRow[] } | { error: string };
