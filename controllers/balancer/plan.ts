// The pure diff of a node's balancers against what its kernel holds: a virtual service to make or
// change (its address, scheduler or endpoints), or to remove. Endpoints come from the containers the
// node observes, so a container starting, dying or turning unhealthy re-plans its balancers.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { BalancerSpec } from "../../src/model/resources.js";
import type {
  NodePlan,
  NodePlanInput,
  ObservedObject,
  PeersBelow,
  PlanNote,
  Readiness,
  SliceEntry,
} from "../../src/reconcile/controller.js";
import { resolveEndpoints } from "./endpoints.js";
import type { BalancerAction, ObservedBalancer, ServiceRules } from "./types.js";

type Input = NodePlanInput<BalancerSpec, ObservedBalancer>;

export function planBalancers(input: Input): NodePlan<BalancerAction> {
  const { node, stack, entries } = input;
  const containers = (input.peers?.container ?? []) as ObservedContainer[];
  const below = input.below?.container ?? [];
  const leaving = (input.leaving?.container ?? []) as ObservedContainer[];
  const observed =
    input.only === undefined ? input.observed : input.observed.filter((o) => o.resource === input.only);
  const actions: BalancerAction[] = [];
  const notes: PlanNote[] = [];
  let unchanged = 0;
  const at = { kind: "balancer" as const, node, stack, replica: 1 as const };
  for (const [name, entry] of Object.entries(entries)) {
    if (input.only !== undefined && name !== input.only) continue;
    const current = observed.find((o) => o.resource === name);
    if (entry.replicas.length === 0) {
      if (current)
        actions.push({ ...at, type: "remove", resource: name, current, reason: "placed on another node" });
      continue;
    }
    const resolved = resolveEndpoints(entry.spec, stack, containers, below);
    const { unreachable } = resolved;
    // Backends leaving (a rolling recreate) keep serving until something replaces them: a dispatch
    // emptied while its last backend still runs would send every new connection nowhere.
    const endpoints =
      resolved.endpoints.length > 0
        ? resolved.endpoints
        : resolveEndpoints(entry.spec, stack, leaving).endpoints;
    const rules = desiredRules(entry.spec, endpoints);
    // IPVS holds a draining endpoint at weight 0 until it is deleted; nftables has none to delete.
    const drained =
      current?.backend === "ipvs" && current.draining.some((d) => drainOver(d, entry.spec.drainTimeoutMs));
    if (current && !drained && sameRules(current.rules, rules) && backendFits(entry.spec, current)) {
      unchanged += 1;
      continue;
    }
    actions.push({
      ...at,
      type: "ensure",
      resource: name,
      spec: entry.spec,
      rules,
      ...(current ? { current } : {}),
      unreachable,
      reason: describeRules(rules, current?.rules),
    });
  }
  for (const current of observed) {
    if (entries[current.resource]) continue;
    if (input.prune && input.inventory[current.resource])
      actions.push({
        ...at,
        type: "remove",
        resource: current.resource,
        current,
        reason: "left the manifests",
      });
    else
      notes.push({
        kind: "balancer",
        node,
        resource: current.resource,
        verb: "kept",
        target: `balancer ${current.resource}`,
        reason: input.prune
          ? "not in this node's record of applied resources, so not pruned"
          : "no longer declared; run with --prune to remove it",
      });
  }
  return { actions, notes, unchanged };
}

/** A drained endpoint may go: its connections have ended, or its drain time is over. */
export function drainOver(draining: ObservedBalancer["draining"][number], drainTimeoutMs: number): boolean {
  return draining.connections === 0 || (draining.elapsedMs ?? 0) >= drainTimeoutMs;
}

/** What the kernel should hold: schedulers that ignore weights get weight 1 everywhere. */
export function desiredRules(spec: BalancerSpec, endpoints: ServiceRules["endpoints"]): ServiceRules {
  const weighted = !["rr", "random"].includes(spec.alg);
  return {
    vip: spec.address,
    port: spec.port,
    protocol: spec.protocol,
    alg: spec.alg,
    endpoints: endpoints.filter((e) => e.weight > 0).map((e) => ({ ...e, weight: weighted ? e.weight : 1 })),
  };
}

export function sameRules(a: ServiceRules, b: ServiceRules): boolean {
  if (a.vip !== b.vip || a.port !== b.port || a.protocol !== b.protocol) return false;
  // A service with no endpoints dispatches nothing, whatever its scheduler (its chain stays empty).
  if (a.endpoints.length === 0 && b.endpoints.length === 0) return true;
  if (a.alg !== b.alg) return false;
  if (a.endpoints.length !== b.endpoints.length) return false;
  return a.endpoints.every((e, i) => {
    const other = b.endpoints[i];
    return (
      other !== undefined && e.address === other.address && e.port === other.port && e.weight === other.weight
    );
  });
}

/** `auto` accepts either kernel backend; a forced one must be the one holding the service. */
function backendFits(spec: BalancerSpec, current: ObservedBalancer): boolean {
  return spec.backend === "auto" || spec.backend === current.backend;
}

function describeRules(rules: ServiceRules, before: ServiceRules | undefined): string {
  const count = (r: ServiceRules) => `${r.endpoints.length} backend${r.endpoints.length === 1 ? "" : "s"}`;
  const now = `${rules.vip}:${rules.port} ${rules.alg} → ${count(rules)}`;
  return before ? `${now} (was ${before.vip}:${before.port} ${before.alg} → ${count(before)})` : now;
}

/** Ready when the kernel holds the service as planned with at least one endpoint. */
export function balancerReadiness(
  entry: SliceEntry<BalancerSpec>,
  observed: readonly ObservedBalancer[],
  stack: string,
  containers: readonly ObservedContainer[],
  below: readonly PeersBelow[] = [],
): Readiness {
  const current = observed.find((o) => o.resource === entry.spec.name);
  const { endpoints, matching } = resolveEndpoints(entry.spec, stack, containers, below);
  if (entry.replicas.length === 0)
    return { condition: "Ready", reason: "PlacedElsewhere", message: "runs on another node", ready: 0 };
  if (!current || !sameRules(current.rules, desiredRules(entry.spec, endpoints)))
    return {
      condition: "Reconciling",
      reason: "Programming",
      message: "rules not in place yet",
      ready: 0,
      recheckAfterMs: 500,
    };
  if (current.rules.endpoints.length === 0) {
    return matching === 0
      ? {
          condition: "Stalled",
          reason: "NoBackends",
          message: "no running container matches its backends",
          ready: 0,
        }
      : {
          condition: "Reconciling",
          reason: "WaitingForBackends",
          message: `${matching} matching, none Ready yet`,
          ready: 0,
          recheckAfterMs: 500,
        };
  }
  return {
    condition: "Ready",
    reason: "Balancing",
    message: `${current.rules.vip}:${current.rules.port} ${current.rules.alg} → ${current.rules.endpoints.length} backends (${current.backend})`,
    ready: 1,
  };
}

/**
 * How long a balancer may still send to or drain containers that are leaving: all of its drain time
 * while one is in the dispatch, what is left of it while one still holds connections, else 0.
 */
export function balancerHolding(
  leaving: readonly ObservedObject[],
  observed: readonly ObservedBalancer[],
  entries: Readonly<Record<string, SliceEntry<BalancerSpec>>>,
): number {
  const addresses = new Set(leaving.flatMap((o) => ((o as Partial<ObservedContainer>).ip ?? []) as string[]));
  let most = 0;
  for (const service of observed) {
    const spec = entries[service.resource]?.spec;
    if (spec === undefined) continue;
    const timeout = spec.drainTimeoutMs;
    // The plan keeps the last backends leaving in the dispatch until a replacement is Ready: held too.
    if (service.rules.endpoints.some((e) => addresses.has(e.address))) most = Math.max(most, timeout);
    for (const draining of service.draining)
      if (addresses.has(draining.address) && !drainOver(draining, timeout))
        most = Math.max(most, timeout - (draining.elapsedMs ?? 0));
  }
  return most;
}
