// What `treescale top` shows, from the container.stats snapshots it has received: pure, so the
// sorting, the sizes and the columns are tested without a terminal or a node.
import type { ContainerStatsPayload, ContainerStatsRow } from "../model/usage.js";

export const SORT_KEYS = ["cpu", "mem", "name", "net", "io"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** A node that published nothing for this long is shown as not answering (it publishes every second). */
export const STALE_AFTER_MS = 3000;

/** The last snapshot of each node, with when it arrived (local clock). */
export type Received = ReadonlyMap<string, { payload: ContainerStatsPayload; receivedAt: number }>;

type Line = { node: string } & ContainerStatsRow;

/** Bigger first for figures (unknown last), names in order; ties by name, so rows never jump. */
export function sortRows(rows: readonly Line[], key: SortKey): Line[] {
  const figure = (row: Line): number | null => {
    switch (key) {
      case "cpu":
        return row.cpuPercent;
      case "mem":
        return row.memoryBytes;
      case "net":
        return sum(row.netRxBytes, row.netTxBytes);
      case "io":
        return sum(row.blockReadBytes, row.blockWriteBytes);
      case "name":
        return null;
    }
  };
  const byName = (a: Line, b: Line) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name);
  return [...rows].sort((a, b) => {
    if (key === "name") return byName(a, b);
    const x = figure(a);
    const y = figure(b);
    if (x !== y) {
      if (x === null) return 1;
      if (y === null) return -1;
      return y - x;
    }
    return byName(a, b);
  });
}

function sum(a: number | null, b: number | null): number | null {
  return a === null && b === null ? null : (a ?? 0) + (b ?? 0);
}

const BINARY = ["B", "KiB", "MiB", "GiB", "TiB"];
const DECIMAL = ["B", "kB", "MB", "GB", "TB"];

/** Sizes as docker stats writes them: memory in binary units, traffic in decimal ones; unknown "--". */
export function humanSize(bytes: number | null, base: 1000 | 1024): string {
  if (bytes === null) return "--";
  const units = base === 1024 ? BINARY : DECIMAL;
  let value = bytes;
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  return unit === 0 ? `${value}${units[0]}` : `${value.toFixed(value < 10 ? 2 : 1)}${units[unit]}`;
}

function percent(value: number | null): string {
  return value === null ? "--" : `${value.toFixed(2)}%`;
}

const HEADERS = ["NODE", "CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O"];
/** Figures align on the right, names on the left. */
const RIGHT = [false, false, true, true, true, true, true];

function cells(line: Line): string[] {
  const memoryPercent =
    line.memoryBytes !== null && line.memoryLimitBytes
      ? (line.memoryBytes / line.memoryLimitBytes) * 100
      : null;
  return [
    line.node,
    line.name,
    percent(line.cpuPercent),
    `${humanSize(line.memoryBytes, 1024)} / ${humanSize(line.memoryLimitBytes, 1024)}`,
    percent(memoryPercent),
    `${humanSize(line.netRxBytes, 1000)} / ${humanSize(line.netTxBytes, 1000)}`,
    `${humanSize(line.blockReadBytes, 1000)} / ${humanSize(line.blockWriteBytes, 1000)}`,
  ];
}

/** Nodes whose figures are missing, and why: the engine unseen, or nothing heard lately. */
export function unreachableNodes(received: Received, now: number): { node: string; reason: string }[] {
  const nodes: { node: string; reason: string }[] = [];
  for (const [node, { payload, receivedAt }] of received) {
    const silentMs = now - receivedAt;
    if (silentMs > STALE_AFTER_MS)
      nodes.push({ node, reason: `unreachable: no figures for ${Math.round(silentMs / 1000)} s` });
    else if (payload.error !== undefined) nodes.push({ node, reason: `unreachable: ${payload.error}` });
  }
  return nodes.sort((a, b) => a.node.localeCompare(b.node));
}

/** The rows of the nodes that answer, sorted. */
export function currentRows(received: Received, now: number, key: SortKey): Line[] {
  const rows: Line[] = [];
  for (const [node, { payload, receivedAt }] of received) {
    if (now - receivedAt > STALE_AFTER_MS || payload.error !== undefined) continue;
    for (const row of payload.containers) rows.push({ ...row, node });
  }
  return sortRows(rows, key);
}

/** The table, then a line per node without figures. */
export function renderTable(received: Received, now: number, key: SortKey): string[] {
  const rows = currentRows(received, now, key).map(cells);
  const widths = HEADERS.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (RIGHT[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  const lines = [line(HEADERS), ...rows.map(line)];
  for (const { node, reason } of unreachableNodes(received, now)) lines.push(`${node}: ${reason}`);
  return lines;
}

/** The JSON form: every node's last snapshot, the unreachable ones with their reason. */
export function jsonSnapshot(received: Received, now: number, key: SortKey): unknown {
  const unreachable = new Map(unreachableNodes(received, now).map(({ node, reason }) => [node, reason]));
  const rows = currentRows(received, now, key);
  return {
    nodes: [...received.keys()].sort().map((node) => ({
      node,
      at: received.get(node)!.payload.at,
      ...(unreachable.has(node) ? { error: unreachable.get(node) } : {}),
    })),
    containers: rows,
  };
}
