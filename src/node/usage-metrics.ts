// The node's containers as Prometheus series: one per container and figure the engine gave (a figure
// it did not give has no series, rather than a 0 that would read as a measurement).
import type { ContainerStatsRow, ContainerUsage, UsageSnapshot } from "../model/usage.js";
import { family, type Sample } from "../util/prometheus.js";

type Figure = {
  name: string;
  help: string;
  type: "counter" | "gauge";
  value: (usage: ContainerUsage) => number | null;
};

const FIGURES: readonly Figure[] = [
  {
    name: "treescale_container_cpu_percent",
    help: "CPU use as docker stats shows it (100 = one CPU busy)",
    type: "gauge",
    value: (usage) => usage.cpuPercent,
  },
  {
    name: "treescale_container_memory_bytes",
    help: "Memory in use, reclaimable page cache left out (as docker stats shows it)",
    type: "gauge",
    value: (usage) => usage.memoryBytes,
  },
  {
    name: "treescale_container_memory_limit_bytes",
    help: "Memory the container may use",
    type: "gauge",
    value: (usage) => usage.memoryLimitBytes,
  },
  {
    name: "treescale_container_network_receive_bytes_total",
    help: "Bytes received over all of the container's interfaces",
    type: "counter",
    value: (usage) => usage.netRxBytes,
  },
  {
    name: "treescale_container_network_transmit_bytes_total",
    help: "Bytes sent over all of the container's interfaces",
    type: "counter",
    value: (usage) => usage.netTxBytes,
  },
  {
    name: "treescale_container_block_read_bytes_total",
    help: "Bytes read from block devices",
    type: "counter",
    value: (usage) => usage.blockReadBytes,
  },
  {
    name: "treescale_container_block_write_bytes_total",
    help: "Bytes written to block devices",
    type: "counter",
    value: (usage) => usage.blockWriteBytes,
  },
];

function labelsOf(node: string, row: ContainerStatsRow) {
  return { node, stack: row.stack, resource: row.resource, replica: row.replica, container: row.name };
}

export function renderUsageMetrics(node: string, snapshot: UsageSnapshot): string {
  const seen = family(
    "treescale_container_stats_up",
    "1 when the node could read its engine's container figures for this scrape",
    "gauge",
    [{ labels: { node }, value: "rows" in snapshot ? 1 : 0 }],
  );
  if (!("rows" in snapshot)) return seen;
  const families = FIGURES.map((figure) => {
    const samples: Sample[] = [];
    for (const row of snapshot.rows) {
      const value = figure.value(row);
      if (value !== null) samples.push({ labels: labelsOf(node, row), value });
    }
    return family(figure.name, figure.help, figure.type, samples);
  });
  return seen + families.join("");
}
