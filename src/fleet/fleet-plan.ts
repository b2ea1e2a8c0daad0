// The plan for a whole tree, pure: which node gets which slice, what each node will do, which
// links move, and why prune is refused when the picture is incomplete. Never acts on partial state.
import type { SliceDocument } from "../agent/slice.js";
import type { NodeState } from "../agent/status.js";
import type { DesiredState } from "../model/resources.js";
import type { ContainerAction, Orphan, Unschedulable } from "../plan/actions.js";
import { planNode, sliceFleet } from "../plan/container-plan.js";
import type { NodeInfo } from "../plan/placement.js";

export type LinkChange =
  | { type: "move"; child: string; from: string | undefined; to: string }
  | { type: "pending"; child: string; to: string; reason: string };

export type NodePlan = {
  node: string;
  reachable: boolean;
  /** Reachable but not declared among the manifests' servers: left alone. */
  undeclared: boolean;
  slice: SliceDocument;
  /** The slice the node held when planned: what a rollback restores. */
  previous?: SliceDocument;
  actions: ContainerAction[];
  orphans: Orphan[];
  unchanged: number;
};

export type FleetPlan = {
  generation: number;
  nodes: NodePlan[];
  unreachable: string[];
  unschedulable: Unschedulable[];
  links: LinkChange[];
  /** Why prune was switched off for this apply, if it was asked for. */
  pruneRefused?: string;
};

export type FleetPlanInput = {
  desired: DesiredState;
  states: readonly NodeState[];
  prune: boolean;
};

export function planFleet({ desired, states, prune }: FleetPlanInput): FleetPlan {
  const byName = new Map(states.map((s) => [s.node, s]));
  const declared = Object.values(desired.servers);
  const nodes: NodeInfo[] =
    declared.length > 0
      ? declared.map((server) => ({ name: server.name, tags: server.tags }))
      : answeredOrLost(states);
  const unreachable = nodes.filter((n) => !byName.has(n.name)).map((n) => n.name);
  const pruneRefused =
    prune && unreachable.length > 0
      ? `nodes unreachable: ${unreachable.join(", ")}; prune needs every node's inventory`
      : undefined;
  const effectivePrune = prune && pruneRefused === undefined;
  const generation = Math.max(0, ...states.map((s) => s.generation)) + 1;

  // Replicas are assigned over every declared node, reachable or not: a node that is down keeps
  // its share (nothing is rescheduled on partial state), it just receives it when it is back.
  const { slices, unschedulable } = sliceFleet(desired.containers, nodes);
  const plans: NodePlan[] = nodes.map((node) => {
    const state = byName.get(node.name);
    const containers = Object.fromEntries(
      Object.entries(slices[node.name] ?? {}).map(([name, entry]) => [
        name,
        { spec: entry.spec, replicas: [...entry.replicas] },
      ]),
    );
    const slice: SliceDocument = { generation, prune: effectivePrune, containers };
    if (!state)
      return {
        node: node.name,
        reachable: false,
        undeclared: false,
        slice,
        actions: [],
        orphans: [],
        unchanged: 0,
      };
    const plan = planNode({
      node: node.name,
      slice: containers,
      observed: state.containers,
      inventory: state.inventory,
      prune: effectivePrune,
    });
    return { node: node.name, reachable: true, undeclared: false, slice, previous: state.slice, ...plan };
  });
  for (const state of states) {
    if (nodes.some((n) => n.name === state.node)) continue;
    plans.push({
      node: state.node,
      reachable: true,
      undeclared: true,
      slice: state.slice,
      actions: [],
      orphans: [],
      unchanged: state.containers.length,
    });
  }
  plans.sort((a, b) => a.node.localeCompare(b.node));

  return {
    generation,
    nodes: plans,
    unreachable,
    unschedulable,
    links: planLinks(desired, byName),
    ...(pruneRefused ? { pruneRefused } : {}),
  };
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
  // A child reported down, or linked but silent within the gathering window, did not answer: either
  // way its inventory is unknown, so it counts as unreachable rather than being left out.
  for (const link of states.flatMap((s) => s.children)) {
    if (nodes.has(link.node)) continue;
    nodes.set(link.node, { name: link.node, tags: link.tags ?? [] });
  }
  return [...nodes.values()];
}

/** The tree's shape comes from the servers' `childs`; a child whose live parent differs moves. */
function planLinks(desired: DesiredState, states: ReadonlyMap<string, NodeState>): LinkChange[] {
  const changes: LinkChange[] = [];
  for (const parent of Object.values(desired.servers)) {
    for (const child of parent.childs) {
      const childState = states.get(child);
      if (!childState) {
        changes.push({ type: "pending", child, to: parent.name, reason: `${child} is not running` });
      } else if (!states.has(parent.name)) {
        changes.push({ type: "pending", child, to: parent.name, reason: `${parent.name} is not running` });
      } else if (childState.parent !== parent.name) {
        changes.push({ type: "move", child, from: childState.parent, to: parent.name });
      }
    }
  }
  return changes.sort((a, b) => a.child.localeCompare(b.child));
}
