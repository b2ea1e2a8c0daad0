// What a soak samples of a running node, and the trend over the samples: its RSS from /proc, its
// Prometheus gauges from /metrics, and a least-squares slope so that growth is told from noise.
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status); undefined once it is gone. */
export async function residentBytesOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
  const kib = status?.match(/^VmRSS:\s+(\d+)\s+kB$/m)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/**
 * Every sample of a Prometheus text page as `name` → value, labels dropped (a node's page labels each
 * series with its own name only). Undefined when the page does not answer.
 */
export async function scrapeMetrics(httpAddress: string): Promise<Map<string, number> | undefined> {
  const response = await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(2000) }).catch(
    () => undefined,
  );
  if (!response?.ok) return undefined;
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/);
    if (sample) values.set(sample[1]!, Number(sample[2]));
  }
  return values;
}

/** A loopback port free right now, for a listener that must be told its port (`--http`). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Slope of the least-squares line through the points (y per unit of x); NaN with fewer than 2. */
export function leastSquaresSlope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const p of points) {
    covariance += (p.x - meanX) * (p.y - meanY);
    variance += (p.x - meanX) ** 2;
  }
  return variance === 0 ? Number.NaN : covariance / variance;
}
