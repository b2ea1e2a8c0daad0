// Which containers a balancer sends traffic to: the Ready ones that match its backends, at the
// address this node reaches them at. Pure, so every rule is a unit test.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { BalancerSpec } from "../../src/model/resources.js";
import type { Endpoint } from "./types.js";

export type Resolved = {
  endpoints: Endpoint[];
  /** Matching containers that are Ready but have no address here: reported, never silently skipped. */
  unreachable: string[];
  /** How many containers match at all (Ready or not): none means the backends name nothing running. */
  matching: number;
};

export function resolveEndpoints(
  spec: BalancerSpec,
  stack: string,
  containers: readonly ObservedContainer[],
): Resolved {
  const endpoints = new Map<string, Endpoint>();
  const unreachable = new Set<string>();
  const matched = new Set<string>();
  for (const backend of spec.backends) {
    for (const container of containers) {
      const matches =
        backend.container !== undefined
          ? container.stack === stack && container.resource === backend.container
          : container.image === backend.image;
      if (!matches) continue;
      matched.add(container.id);
      const ready =
        container.state === "running" && container.health !== "unhealthy" && container.health !== "starting";
      if (!ready) continue;
      if (!container.ip) {
        unreachable.add(container.name);
        continue;
      }
      const key = `${container.ip}:${backend.port}`;
      if (!endpoints.has(key))
        endpoints.set(key, {
          address: container.ip,
          port: backend.port,
          weight: backend.weight,
          target: container.name,
        });
    }
  }
  return {
    endpoints: [...endpoints.values()].sort(byAddress),
    unreachable: [...unreachable].sort(),
    matching: matched.size,
  };
}

export function byAddress(
  a: { address: string; port: number },
  b: { address: string; port: number },
): number {
  return a.address.localeCompare(b.address, "en", { numeric: true }) || a.port - b.port;
}
