// Which containers a balancer sends traffic to: the Ready ones that match its backends, on its node
// and on the nodes below it, at the address this node reaches them at: a container's own address on
// this node's engine, the child server's address and published port otherwise. Pure, so every rule
// is a unit test.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { BalancerSpec } from "../../src/model/resources.js";
import type { PeersBelow } from "../../src/reconcile/controller.js";
import type { Endpoint } from "./types.js";

export type Resolved = {
  endpoints: Endpoint[];
  /** Matching containers that are Ready but have no address here: reported, never silently skipped. */
  unreachable: string[];
  /** How many containers match at all (Ready or not): none means the backends name nothing running. */
  matching: number;
  /** Matching containers that are not Ready (stopped, unhealthy, still starting): out of the dispatch. */
  down: string[];
};

export function resolveEndpoints(
  spec: BalancerSpec,
  stack: string,
  containers: readonly ObservedContainer[],
  below: readonly PeersBelow[] = [],
): Resolved {
  const endpoints = new Map<string, Endpoint>();
  const unreachable = new Set<string>();
  const matched = new Set<string>();
  const down = new Set<string>();
  const sources = [
    { node: undefined, address: undefined, items: containers },
    ...below.map((peers) => ({ ...peers, items: peers.items as readonly ObservedContainer[] })),
  ];
  for (const backend of spec.backends) {
    for (const source of sources) {
      for (const container of source.items) {
        const matches =
          backend.container !== undefined
            ? container.stack === stack && container.resource === backend.container
            : container.image === backend.image;
        if (!matches) continue;
        matched.add(container.id);
        const ready =
          container.state === "running" &&
          container.health !== "unhealthy" &&
          container.health !== "starting";
        if (!ready) {
          down.add(source.node === undefined ? container.name : `${container.name} on ${source.node}`);
          continue;
        }
        const at =
          source.node === undefined
            ? container.ip
              ? { address: container.ip, port: backend.port }
              : container.name
            : published(container, backend.port, spec.protocol, source);
        if (typeof at === "string") {
          unreachable.add(at);
          continue;
        }
        const key = `${at.address}:${at.port}`;
        if (!endpoints.has(key))
          endpoints.set(key, {
            ...at,
            weight: backend.weight,
            target: container.name,
            ...(source.node === undefined ? {} : { via: source.node }),
          });
      }
    }
  }
  return {
    endpoints: [...endpoints.values()].sort(byAddress),
    unreachable: [...unreachable].sort(),
    matching: matched.size,
    down: [...down].sort(),
  };
}

export function byAddress(
  a: { address: string; port: number },
  b: { address: string; port: number },
): number {
  return a.address.localeCompare(b.address, "en", { numeric: true }) || a.port - b.port;
}

/**
 * A container on a node below, at its node's address (or the one address its port is bound to) and
 * published port; or, when it has none, what it lacks.
 */
function published(
  container: ObservedContainer,
  port: number,
  protocol: "tcp" | "udp",
  node: { node: string; address: string | undefined },
): { address: string; port: number } | string {
  const publication = container.published?.find((p) => p.port === port && p.protocol === protocol);
  if (!publication) return `${container.name} on ${node.node} (${protocol} port ${port} not published)`;
  const address = publication.hostIp ?? node.address;
  if (!address) return `${container.name} on ${node.node} (the node's address is not known)`;
  return { address, port: publication.hostPort };
}
