// How `treescale logs` prints: each line prefixed with its replica as compose does (`web-1 | …`),
// the prefixes padded to one width, and colored on a terminal — a replica keeps its color from run
// to run. And how --since reads. Pure.
import { UsageError } from "../errors.js";

/** Compose's palette, without red (errors) and black/white (invisible on one background or the other). */
const COLORS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94] as const;

export function colorOf(replica: string): number {
  let hash = 0;
  for (const char of replica) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return COLORS[hash % COLORS.length]!;
}

export function prefixer(names: readonly string[], colored: boolean): (replica: string) => string {
  const width = Math.max(0, ...names.map((n) => n.length));
  return (replica) => {
    const padded = `${replica.padEnd(width)} |`;
    return colored ? `\u001b[${colorOf(replica)}m${padded}\u001b[0m ` : `${padded} `;
  };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** --since: a duration back from now (`90s`, `10m`, `2h`, `1d`) or an RFC 3339 time; Unix seconds. */
export function parseSince(text: string, now: number): number {
  const duration = /^(\d+)([smhd])$/.exec(text);
  if (duration) return Math.floor(now / 1000) - Number(duration[1]) * UNIT_SECONDS[duration[2]!]!;
  const time = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time))
    throw new UsageError(
      `--since must be a duration (90s, 10m, 2h, 1d) or an RFC 3339 time (2026-01-02T15:04:05Z), got "${text}"`,
    );
  return Math.floor(time / 1000);
}
