// How balancer actions read in a plan and in JSON, and how virtual services read in `get balancers`.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { BalancerSpec } from "../../src/model/resources.js";
import type { ActionLine, RowContext } from "../../src/reconcile/controller.js";
import { naturalCompare } from "../../src/util/natural-order.js";
import { resolveEndpoints } from "./endpoints.js";
import type { BalancerAction, ObservedBalancer } from "./types.js";

export function describeBalancerAction(action: BalancerAction): ActionLine {
  if (action.type === "remove")
    return { effect: "remove", verb: "balancer", target: action.resource, reason: action.reason };
  const unreachable =
    action.unreachable.length > 0 ? `; no address for ${action.unreachable.join(", ")}` : "";
  return {
    effect: action.current ? "update" : "create",
    verb: "balancer",
    target: action.resource,
    reason: `${action.reason}${unreachable}`,
  };
}

export function balancerActionJson(action: BalancerAction): Record<string, unknown> {
  const base = {
    action: action.type,
    node: action.node,
    stack: action.stack,
    resource: `balancer/${action.resource}`,
  };
  if (action.type === "remove") return { ...base, backend: action.current.backend, reason: action.reason };
  return {
    ...base,
    address: `${action.rules.vip}:${action.rules.port}`,
    protocol: action.rules.protocol,
    alg: action.rules.alg,
    endpoints: action.rules.endpoints.map((e) => ({
      address: `${e.address}:${e.port}`,
      weight: e.weight,
      target: e.target,
    })),
    unreachable: action.unreachable,
    reason: action.reason,
  };
}

export function balancerRows(
  observed: readonly ObservedBalancer[],
  context?: RowContext,
): Record<string, unknown>[] {
  return [...observed]
    .sort(
      (a, b) =>
        naturalCompare(`${a.stack}/${a.resource}`, `${b.stack}/${b.resource}`) ||
        naturalCompare(a.node, b.node),
    )
    .map((service) => ({
      name: service.resource,
      stack: service.stack,
      node: service.node,
      address: `${service.rules.vip}:${service.rules.port}/${service.rules.protocol}`,
      backend: service.backend,
      alg: service.rules.alg,
      backends: [
        ...service.rules.endpoints.map((e) => ({
          address: `${e.address}:${e.port}`,
          weight: e.weight,
          state: "active",
          connections: service.connections?.[`${e.address}:${e.port}`] ?? null,
        })),
        ...service.draining.map((d) => ({
          address: `${d.address}:${d.port}`,
          weight: 0,
          state: "draining",
          connections: d.connections ?? null,
        })),
        ...down(service, context).map((name) => ({
          address: name,
          weight: 0,
          state: "down",
          connections: null,
        })),
      ],
    }));
}

/** Containers on the balancer's node that its backends name but that are not Ready: out of the dispatch. */
function down(service: ObservedBalancer, context: RowContext | undefined): string[] {
  const entry = context?.entry(service.node, service.stack, "balancer", service.resource);
  if (!context || !entry) return [];
  const containers = context.peers(service.node, "container") as ObservedContainer[];
  return resolveEndpoints(entry.spec as BalancerSpec, service.stack, containers).down;
}
