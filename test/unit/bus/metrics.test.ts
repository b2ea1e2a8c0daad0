import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BusMetrics, renderMetrics } from "../../../src/bus/metrics.js";
import { BusServer } from "../../../src/bus/server/index.js";
import { createHttpFrontend } from "../../../src/node/http.js";

const GAUGES = {
  clients: 0,
  pending: 0,
  childLinks: 0,
  parentLinks: 0,
  subscriptions: 0,
  subscribedEvents: 0,
  replyRoutes: 0,
  interestKeys: 0,
  pendingOutputBytes: 0,
};
const MEMORY_GAUGES = [
  "nodejs_heap_used_bytes",
  "nodejs_heap_total_bytes",
  "process_resident_memory_bytes",
  "nodejs_external_memory_bytes",
];

/** `name{labels} value` lines as name → value. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$/);
    if (sample) values.set(sample[1]!, Number(sample[2]));
  }
  return values;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("metrics — process memory", () => {
  it("renders heap, RSS and external memory as gauges with the node's label", () => {
    const text = renderMetrics("n1", new BusMetrics(), GAUGES, {
      heapUsed: 11,
      heapTotal: 22,
      rss: 33,
      external: 44,
    });
    expect(text).toContain('nodejs_heap_used_bytes{node="n1"} 11\n');
    expect(text).toContain('nodejs_heap_total_bytes{node="n1"} 22\n');
    expect(text).toContain('process_resident_memory_bytes{node="n1"} 33\n');
    expect(text).toContain('nodejs_external_memory_bytes{node="n1"} 44\n');
    for (const name of MEMORY_GAUGES) expect(text).toContain(`# TYPE ${name} gauge\n`);
  });

  it("serves this process's memory on /metrics", async () => {
    const bus = new BusServer({ name: "metrics-test", auth: { check: async () => ({ ok: true }) } });
    bus.start();
    cleanups.push(() => bus.stop());
    const server = createHttpFrontend(bus, {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    const values = samples(await response.text());
    for (const name of MEMORY_GAUGES) expect(values.get(name), name).toBeGreaterThan(0);
    expect(values.get("nodejs_heap_used_bytes")).toBeLessThanOrEqual(values.get("nodejs_heap_total_bytes")!);
  });
});
