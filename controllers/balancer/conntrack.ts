// Live connections per virtual service and backend, from the conntrack table's text: a connection
// DNATed from a virtual address shows it as the original destination and the backend as the reply's
// source. Pure, so every line shape is a unit test.
import { serviceKey } from "./ipvs-rules.js";
import type { ObservedBalancer } from "./types.js";

/** TCP states of a connection that is over, whose entry only lingers (they would hold a drain for minutes). */
const FINISHED = new Set(["TIME_WAIT", "CLOSE"]);

/** `tcp 10.0.0.10:80` → `172.17.0.2:80` → live connections. */
export type ConnectionCounts = Map<string, Map<string, number>>;

export function parseConntrack(text: string): ConnectionCounts {
  const counts: ConnectionCounts = new Map();
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const protocol = fields[2];
    if (fields[0] !== "ipv4" || (protocol !== "tcp" && protocol !== "udp")) continue;
    if (protocol === "tcp" && FINISHED.has(fields[5] ?? "")) continue;
    const values: Record<string, string[]> = {};
    for (const field of fields) {
      const equals = field.indexOf("=");
      if (equals <= 0) continue;
      const name = field.slice(0, equals);
      values[name] = [...(values[name] ?? []), field.slice(equals + 1)];
    }
    const [originalDst, replySrc] = [values.dst?.[0], values.src?.[1]];
    const [originalPort, replyPort] = [values.dport?.[0], values.sport?.[1]];
    if (!originalDst || !replySrc || !originalPort || !replyPort) continue;
    // Not translated: not a balanced connection.
    if (originalDst === replySrc && originalPort === replyPort) continue;
    const service = serviceKey({ protocol, vip: originalDst, port: Number(originalPort) });
    const backends = counts.get(service) ?? new Map<string, number>();
    const backend = `${replySrc}:${replyPort}`;
    backends.set(backend, (backends.get(backend) ?? 0) + 1);
    counts.set(service, backends);
  }
  return counts;
}

/**
 * nftables services with their connections: per endpoint in the dispatch, and as draining the
 * backends out of it that still hold some (conntrack keeps those going), drained since first seen so.
 */
export function withConnections(
  services: readonly ObservedBalancer[],
  counts: ConnectionCounts,
  drainingSince: Map<string, string>,
  now: number,
): ObservedBalancer[] {
  const seen = new Set<string>();
  const observed = services.map((service) => {
    const key = serviceKey(service.rules);
    const backends = counts.get(key) ?? new Map<string, number>();
    const active = new Set(service.rules.endpoints.map((e) => `${e.address}:${e.port}`));
    const draining = [...backends]
      .filter(([backend]) => !active.has(backend))
      .map(([backend, connections]) => {
        const sinceKey = `${key} → ${backend}`;
        seen.add(sinceKey);
        const since = drainingSince.get(sinceKey) ?? new Date(now).toISOString();
        drainingSince.set(sinceKey, since);
        const colon = backend.lastIndexOf(":");
        return {
          address: backend.slice(0, colon),
          port: Number(backend.slice(colon + 1)),
          since,
          connections,
          elapsedMs: now - Date.parse(since),
        };
      });
    return {
      ...service,
      draining,
      connections: Object.fromEntries(
        [...active, ...draining.map((d) => `${d.address}:${d.port}`)].map((b) => [b, backends.get(b) ?? 0]),
      ),
    };
  });
  for (const key of drainingSince.keys()) if (!seen.has(key)) drainingSince.delete(key);
  return observed;
}
