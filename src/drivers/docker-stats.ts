// The figures `docker stats` shows, computed from one answer of the Engine API's stats endpoint the way
// the docker CLI computes them (cli/command/container/stats_helpers.go). Pure: no engine here.
import type { ContainerUsage } from "../model/usage.js";

type CpuStats = {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null };
  system_cpu_usage?: number;
  online_cpus?: number;
};

type BlkioEntry = { op?: string; value?: number };

/** The parts of the engine's stats answer read here; everything is optional, as engines leave parts out. */
export type EngineStatsAnswer = {
  read?: string;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }> | null;
  blkio_stats?: { io_service_bytes_recursive?: BlkioEntry[] | null };
};

/**
 * CPU % between the previous sample and this one: the container's CPU time over the host's, times the
 * CPUs online, × 100. Null without an earlier sample (the first answer of a stream, a stopped container).
 */
export function cpuPercent(current: CpuStats | undefined, previous: CpuStats | undefined): number | null {
  const total = current?.cpu_usage?.total_usage;
  const system = current?.system_cpu_usage;
  const previousTotal = previous?.cpu_usage?.total_usage;
  const previousSystem = previous?.system_cpu_usage;
  if (total === undefined || system === undefined || previousTotal === undefined || !previousSystem)
    return null;
  const online = current?.online_cpus || current?.cpu_usage?.percpu_usage?.length || 0;
  const cpuDelta = total - previousTotal;
  const systemDelta = system - previousSystem;
  if (online === 0 || systemDelta <= 0) return null;
  return cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
}

/**
 * Memory in use without the page cache that can be reclaimed: usage minus inactive file pages
 * (`total_inactive_file` on cgroup v1, `inactive_file` on v2), as `docker stats` shows it.
 */
export function memoryInUse(memory: EngineStatsAnswer["memory_stats"]): number | null {
  const usage = memory?.usage;
  if (usage === undefined) return null;
  const stats = memory?.stats ?? {};
  const inactive = stats.total_inactive_file ?? stats.inactive_file;
  return inactive !== undefined && inactive < usage ? usage - inactive : usage;
}

/** Received and sent bytes over every interface; null when the engine reports no networks (host or none). */
export function networkTotals(networks: EngineStatsAnswer["networks"]): { rx: number; tx: number } | null {
  if (!networks) return null;
  let rx = 0;
  let tx = 0;
  for (const counters of Object.values(networks)) {
    rx += counters.rx_bytes ?? 0;
    tx += counters.tx_bytes ?? 0;
  }
  return { rx, tx };
}

/**
 * Bytes read and written, summed over devices. An engine that has no such list (cgroup v2 without io
 * accounting answers null) gives null; a list, even empty, is its count of every device that did I/O.
 */
export function blockTotals(blkio: EngineStatsAnswer["blkio_stats"]): { read: number; write: number } | null {
  const entries = blkio?.io_service_bytes_recursive;
  if (!Array.isArray(entries)) return null;
  let read = 0;
  let write = 0;
  for (const entry of entries) {
    const op = entry.op?.toLowerCase();
    if (op === "read") read += entry.value ?? 0;
    else if (op === "write") write += entry.value ?? 0;
  }
  return { read, write };
}

/** A stats answer as figures; CPU from the answer's own previous sample (precpu_stats). */
export function usageFromAnswer(answer: EngineStatsAnswer): ContainerUsage {
  const network = networkTotals(answer.networks);
  const block = blockTotals(answer.blkio_stats);
  const limit = answer.memory_stats?.limit;
  return {
    cpuPercent: cpuPercent(answer.cpu_stats, answer.precpu_stats),
    memoryBytes: memoryInUse(answer.memory_stats),
    memoryLimitBytes: limit === undefined || limit === 0 ? null : limit,
    netRxBytes: network?.rx ?? null,
    netTxBytes: network?.tx ?? null,
    blockReadBytes: block?.read ?? null,
    blockWriteBytes: block?.write ?? null,
  };
}
