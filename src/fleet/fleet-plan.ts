// The plan for a whole tree and one stack, pure: which node gets which slice, what each node will
// do (per kind, through the registry), what the fleet-scope kinds will do, what no controller here
// acts on, and why prune is refused when the picture is incomplete. Never acts on partial state.
import type { DesiredState } from "../model/resources.js";
import { blindKinds, type NodeState, type SliceDocument } from "../model/wire.js";
import type {
  NodeInfo,
  ObservedObject,
  PlanNote,
  PlannedAction,
  SliceEntry,
  Unschedulable,
} from "../reconcile/controller.js";
import { resourceKey, splitResourceKey } from "../reconcile/keys.js";
import type { Registry } from "../reconcile/registry.js";
import { canonicalJson } from "../util/canonical-json.js";
import { naturalCompare } from "../util/natural-order.js";

export type NodePlan = {
  node: string;
  reachable: boolean;
  /** Why a node that answered still cannot be planned for (its engine does not answer). */
  blind: string[];
  /** Reachable but not declared among the manifests' servers: left alone. */
  undeclared: boolean;
  slice: SliceDocument;
  /** The slice the node held when planned: what a rollback restores. */
  previous?: SliceDocument;
  actions: PlannedAction[];
  notes: PlanNote[];
  unchanged: number;
};

export type FleetPlan = {
  stack: string;
  generation: number;
  nodes: NodePlan[];
  unreachable: string[];
  unschedulable: Unschedulable[];
  /** What the fleet-scope kinds (node links…) will do where the apply runs. */
  fleet: { actions: PlannedAction[]; notes: PlanNote[] };
  /** Declared resources no controller of this version acts on. */
  unsupported: PlanNote[];
  /** Why prune was switched off for this apply, if it was asked for. */
  pruneRefused?: string;
};

export type FleetPlanInput = {
  desired: DesiredState;
  /**
   * The manifests before a connection's view of them (the embedded node keeps only its own server):
   * what no controller acts on is judged on these, so no ssh block goes unheeded unsaid.
   */
  asWritten?: DesiredState;
  states: readonly NodeState[];
  stack: string;
  prune: boolean;
  registry: Registry;
};

export function planFleet({ desired, asWritten, states, stack, prune, registry }: FleetPlanInput): FleetPlan {
  const byName = new Map(states.map((s) => [s.node, s]));
  const declared = Object.values(desired.servers);
  const nodes: NodeInfo[] =
    declared.length > 0
      ? declared.map((server) => ({ name: server.name, tags: server.tags }))
      : answeredOrLost(states);
  const inUse = registry.kindsInUse(desired);
  const blindOf = (name: string) => {
    const state = byName.get(name);
    return state ? blindKinds(state.observed, inUse) : [];
  };
  const unreachable = nodes
    .filter((n) => !byName.has(n.name) || blindOf(n.name).length > 0)
    .map((n) => n.name);
  const pruneRefused =
    prune && unreachable.length > 0
      ? `nodes unreachable: ${unreachable.join(", ")}; prune needs every node's inventory`
      : undefined;
  const effectivePrune = prune && pruneRefused === undefined;
  const generation = Math.max(0, ...states.map((s) => s.stacks[stack]?.slice.generation ?? 0)) + 1;

  // Replicas are assigned over every declared node, reachable or not: a node that is down keeps
  // its share (nothing is rescheduled on partial state), it just receives it when it is back.
  const resources = new Map<string, Record<string, SliceEntry>>(nodes.map((n) => [n.name, {}]));
  const unschedulable: Unschedulable[] = [];
  for (const controller of registry.nodeKinds) {
    const specs = controller.specs(desired);
    const placement = controller.place(specs, nodes);
    unschedulable.push(...placement.unschedulable);
    for (const node of nodes) {
      const entries = resources.get(node.name)!;
      const server = desired.servers[node.name];
      for (const [name, spec] of Object.entries(specs)) {
        entries[resourceKey(controller.kind, name)] = {
          spec: server && controller.specOn ? controller.specOn(spec, server) : spec,
          replicas: [...(placement.shares.get(name)?.get(node.name) ?? [])],
        };
      }
    }
  }

  const plans: NodePlan[] = nodes.map((node) => {
    const state = byName.get(node.name);
    const slice: SliceDocument = {
      stack,
      generation,
      prune: effectivePrune,
      resources: resources.get(node.name) ?? {},
    };
    const blind = blindOf(node.name);
    const base = { node: node.name, blind, undeclared: false, slice };
    if (!state || blind.length > 0)
      return { ...base, reachable: false, actions: [], notes: [], unchanged: 0 };
    const held = state.stacks[stack];
    const plan: NodePlan = {
      ...base,
      reachable: true,
      ...(held ? { previous: held.slice } : {}),
      actions: [],
      notes: [],
      unchanged: 0,
    };
    for (const controller of registry.nodeKinds) {
      const result = controller.plan({
        node: node.name,
        stack,
        entries: ofKind(slice.resources, controller.kind),
        observed: ((state.observed[controller.kind]?.items ?? []) as ObservedObject[]).filter(
          (item) => item.stack === stack,
        ),
        inventory: ofKind(held?.inventory ?? {}, controller.kind),
        held: ofKind(held?.slice.resources ?? {}, controller.kind),
        prune: effectivePrune,
        peers: Object.fromEntries(
          (controller.dependsOn ?? []).map((kind) => [
            kind,
            (state.observed[kind]?.items ?? []) as ObservedObject[],
          ]),
        ),
      });
      plan.actions.push(...result.actions);
      plan.notes.push(...result.notes);
      plan.unchanged += result.unchanged;
    }
    // Nothing to do and the same slice: the node keeps its generation, so a no-op apply costs it
    // no reconcile. (With actions, a new generation is what makes an apply heal unhealed drift.)
    if (held && plan.actions.length === 0 && sameContent(held.slice, slice))
      plan.slice = { ...slice, generation: held.slice.generation };
    return plan;
  });
  for (const state of states) {
    if (nodes.some((n) => n.name === state.node)) continue;
    plans.push({
      node: state.node,
      reachable: true,
      blind: [],
      undeclared: true,
      slice: state.stacks[stack]?.slice ?? { stack, generation: 0, prune: false, resources: {} },
      actions: [],
      notes: [],
      unchanged: 0,
    });
  }
  plans.sort((a, b) => naturalCompare(a.node, b.node));

  const fleet: FleetPlan["fleet"] = { actions: [], notes: [] };
  for (const controller of registry.fleetKinds) {
    const result = controller.plan(desired, states);
    fleet.actions.push(...result.actions);
    fleet.notes.push(...result.notes);
  }

  return {
    stack,
    generation,
    nodes: plans,
    unreachable,
    unschedulable,
    fleet,
    unsupported: registry.unsupported(asWritten ?? desired),
    ...(pruneRefused ? { pruneRefused } : {}),
  };
}

function sameContent(a: SliceDocument, b: SliceDocument): boolean {
  return a.prune === b.prune && canonicalJson(a.resources) === canonicalJson(b.resources);
}

/** The entries of one kind, keyed by name. */
function ofKind<T>(byKey: Readonly<Record<string, T>>, kind: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, value] of Object.entries(byKey)) {
    const { kind: k, name } = splitResourceKey(key);
    if (k === kind) out[name] = value;
  }
  return out;
}

/**
 * Without declared servers the fleet is whoever answered, plus every child that a parent reports
 * (down, or linked but silent) that did not answer itself: leaving it out would hand its replicas to the
 * others and let prune run while its inventory is unknown. It is placed with the tags its parent
 * learned when it linked (the node daemon asks each new child). A parent that never learned them
 * (it restarted while the child was down) gives no tags rather than every tag: "every tag" would
 * make the node eligible for resources it never ran and take replicas away from healthy nodes;
 * with no tags it keeps whatever names it or places anywhere, and nothing running elsewhere stops.
 */
function answeredOrLost(states: readonly NodeState[]): NodeInfo[] {
  const nodes = new Map<string, NodeInfo>(states.map((s) => [s.node, { name: s.node, tags: s.tags }]));
  for (const link of states.flatMap((s) => s.children)) {
    if (nodes.has(link.node)) continue;
    nodes.set(link.node, { name: link.node, tags: link.tags ?? [] });
  }
  return [...nodes.values()];
}

/** A plan changes something when any node or fleet-scope kind acts, or something cannot be placed or acted on. */
export function planDiffers(plan: FleetPlan): boolean {
  return (
    plan.nodes.some((n) => n.actions.length > 0) ||
    plan.fleet.actions.length > 0 ||
    plan.unschedulable.length > 0 ||
    plan.unsupported.length > 0 ||
    plan.unreachable.length > 0
  );
}
