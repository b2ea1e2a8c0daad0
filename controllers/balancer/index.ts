// The balancer kind: a virtual IP:port on one node spread over the Ready containers its backends
// name, with IPVS where the kernel has it and nftables otherwise. It plans from the node's containers
// (a peer kind), so a backend starting, dying or turning unhealthy re-plans it.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { BalancerSpec } from "../../src/model/resources.js";
import type { NodeController, Placement, RuntimeHost } from "../../src/reconcile/controller.js";
import { balancerActionJson, balancerRows, describeBalancerAction } from "./describe.js";
import type { BalancerDrivers } from "./execute.js";
import { balancerHolding, balancerReadiness, planBalancers } from "./plan.js";
import type { BalancerAction, ObservedBalancer } from "./types.js";

export type BalancerControllerOptions = {
  /** Loaded only by a node that acts: the nft and ipvsadm drivers, and the node's record of its IPVS services. */
  drivers(host: RuntimeHost): Promise<BalancerDrivers>;
};

export type BalancerController = NodeController<BalancerSpec, ObservedBalancer, BalancerAction>;

export function balancerController(options: BalancerControllerOptions): BalancerController {
  return {
    kind: "balancer",
    scope: "node",
    nouns: ["balancers", "balancer", "lb"],
    dependsOn: ["container"],
    peersFromBelow: true,
    specs: (desired) => desired.balancers,
    place,
    checkSpec,
    plan: planBalancers,
    readiness: (entry, observed, peers, below) =>
      balancerReadiness(
        entry,
        observed,
        observed[0]?.stack ?? "",
        (peers?.container ?? []) as ObservedContainer[],
        below?.container,
      ),
    holding: balancerHolding,
    describe: describeBalancerAction,
    actionJson: balancerActionJson,
    rows: balancerRows,
    async runtime(host) {
      const [drivers, { executeBalancerPlan }, { BalancerObserver }] = await Promise.all([
        options.drivers(host),
        import("./execute.js"),
        import("./observer.js"),
      ]);
      return {
        observe: (context) => new BalancerObserver(drivers, context),
        execute: (actions, context) => executeBalancerPlan(actions, context, drivers),
      };
    },
  };
}

/** A balancer lives on its `node`; without one, on the only node there is, else nowhere (and says why). */
function place(specs: Readonly<Record<string, BalancerSpec>>, nodes: readonly { name: string }[]): Placement {
  const shares: Placement["shares"] = new Map();
  const unschedulable: Placement["unschedulable"] = [];
  for (const spec of Object.values(specs)) {
    const node = spec.node ?? (nodes.length === 1 ? nodes[0]?.name : undefined);
    if (!node || !nodes.some((n) => n.name === node)) {
      unschedulable.push({
        kind: "balancer",
        resource: spec.name,
        reason: spec.node
          ? `node ${spec.node} is not in the fleet`
          : 'set node = "…": the fleet has more than one node',
      });
      shares.set(spec.name, new Map());
      continue;
    }
    shares.set(spec.name, new Map(nodes.map((n) => [n.name, n.name === node ? [1] : []])));
  }
  return { shares, unschedulable };
}

function checkSpec(name: string, spec: unknown): string[] {
  if (typeof spec !== "object" || spec === null) return ["spec: must be an object"];
  const { name: specName, address, port } = spec as Record<string, unknown>;
  const issues: string[] = [];
  if (specName !== name) issues.push(`spec.name: must be "${name}"`);
  if (typeof address !== "string" || address === "") issues.push("spec.address: must be an IP address");
  if (typeof port !== "number") issues.push("spec.port: must be a port number");
  return issues;
}
