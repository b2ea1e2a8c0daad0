// The pure diff of desired containers against what the engines report. No I/O: given the
// same inputs it returns the same plan, which is what lets `diff` and `apply` agree.

import { containerName } from "../model/labels.js";
import type { ObservedContainer } from "../model/observed.js";
import type { ContainerSpec } from "../model/resources.js";
import { changedFields, fieldHashes, specHash } from "../model/spec-hash.js";
import type { ContainerAction, Orphan, Plan } from "./actions.js";
import { assignReplicas, type NodeInfo } from "./placement.js";

/** What a node recorded as applied: resource → the replica indices it ran. Prune acts only on these. */
export type Inventory = Readonly<Record<string, { replicas: readonly number[] }>>;

export type PlanInput = {
  desired: Readonly<Record<string, ContainerSpec>>;
  nodes: readonly NodeInfo[];
  /** Owned containers of every node in `nodes`. */
  observed: readonly ObservedContainer[];
  /** Per node name. A node without an inventory has recorded nothing. */
  inventories: Readonly<Record<string, Inventory>>;
  prune: boolean;
};

const PHASE: Record<ContainerAction["type"], number> = { remove: 0, recreate: 1, create: 2, start: 3 };
const RUNNING_STATES = new Set(["running", "restarting"]);
const BROKEN_STATES = new Set(["dead", "removing"]);

/** A node's share of the desired containers: each resource with the replica indices this node runs. */
export type NodeSlice = Readonly<Record<string, { spec: ContainerSpec; replicas: readonly number[] }>>;

/** Splits the desired containers into per-node slices by placement. */
export function sliceFleet(
  desired: Readonly<Record<string, ContainerSpec>>,
  nodes: readonly NodeInfo[],
): { slices: Record<string, NodeSlice>; unschedulable: Plan["unschedulable"] } {
  const { assignment, unschedulable } = assignReplicas(desired, nodes);
  const slices: Record<string, Record<string, { spec: ContainerSpec; replicas: number[] }>> = {};
  for (const node of nodes) {
    const slice: Record<string, { spec: ContainerSpec; replicas: number[] }> = {};
    for (const spec of Object.values(desired)) {
      slice[spec.name] = { spec, replicas: assignment.get(spec.name)?.get(node.name) ?? [] };
    }
    slices[node.name] = slice;
  }
  return { slices, unschedulable };
}

export function planContainers(input: PlanInput): Plan {
  const { slices, unschedulable } = sliceFleet(input.desired, input.nodes);
  const plan: Plan = { actions: [], orphans: [], unschedulable, unchanged: 0 };
  for (const node of input.nodes) {
    const result = planNode({
      node: node.name,
      slice: slices[node.name] ?? {},
      observed: input.observed.filter((c) => c.node === node.name),
      inventory: input.inventories[node.name] ?? {},
      prune: input.prune,
    });
    plan.actions.push(...result.actions);
    plan.orphans.push(...result.orphans);
    plan.unchanged += result.unchanged;
  }
  plan.actions.sort(byPhaseThenName);
  return plan;
}

export type NodePlanInput = {
  node: string;
  slice: NodeSlice;
  /** Owned containers of this node. */
  observed: readonly ObservedContainer[];
  inventory: Inventory;
  prune: boolean;
  /** Plan only this resource (an agent reconciles one key at a time). */
  only?: string;
};

/** The plan for one node's slice against that node's containers. */
export function planNode(input: NodePlanInput): Omit<Plan, "unschedulable"> {
  const { node, slice, inventory } = input;
  const actions: ContainerAction[] = [];
  const orphans: Orphan[] = [];
  let unchanged = 0;
  const observed =
    input.only === undefined ? input.observed : input.observed.filter((c) => c.resource === input.only);
  const byResource = groupBy(observed, (c) => c.resource);

  for (const [resource, containers] of byResource) {
    if (slice[resource]) continue;
    for (const container of containers) {
      if (input.prune && inventory[resource]) {
        actions.push({
          type: "remove",
          node,
          resource,
          replica: container.replica,
          name: container.name,
          containerId: container.id,
          cause: "prune",
          reason: "left the manifests",
        });
      } else {
        orphans.push({
          node,
          resource,
          name: container.name,
          containerId: container.id,
          reason: input.prune
            ? "not in this node's record of applied resources, so not pruned"
            : "no longer declared; run with --prune to remove it",
        });
      }
    }
  }

  for (const [name, entry] of Object.entries(slice)) {
    if (input.only !== undefined && name !== input.only) continue;
    const result = planResource(node, entry.spec, entry.replicas, byResource.get(name) ?? [], inventory);
    actions.push(...result.actions);
    unchanged += result.unchanged;
  }
  actions.sort(byPhaseThenName);
  return { actions, orphans, unchanged };
}

function byPhaseThenName(a: ContainerAction, b: ContainerAction): number {
  return PHASE[a.type] - PHASE[b.type] || a.name.localeCompare(b.name);
}

function planResource(
  node: string,
  spec: ContainerSpec,
  wanted: readonly number[],
  observed: readonly ObservedContainer[],
  inventory: Inventory,
): { actions: ContainerAction[]; unchanged: number } {
  const actions: ContainerAction[] = [];
  const hash = specHash(spec);
  const hashes = fieldHashes(spec);
  const wantedSet = new Set(wanted);
  const byReplica = groupBy(observed, (c) => c.replica);
  let unchanged = 0;

  for (const [replica, containers] of byReplica) {
    const [keep, ...extras] = [...containers].sort((a, b) => preference(b, hash) - preference(a, hash));
    for (const extra of extras) {
      actions.push(removal(node, extra, "duplicate", `duplicate of replica ${replica}`));
    }
    if (!keep || wantedSet.has(replica)) continue;
    const cause =
      wanted.length === 0 && spec.replicas > 0 && spec.mode === "replicated" ? "placement" : "scale-down";
    actions.push(
      removal(
        node,
        keep,
        cause,
        cause === "placement"
          ? "no longer placed on this node"
          : `scale down to ${wanted.length} on this node`,
      ),
    );
  }

  const previous = new Set(inventory[spec.name]?.replicas ?? []);
  for (const replica of wanted) {
    const name = containerName(node, spec.name, replica);
    const current = byReplica
      .get(replica)
      ?.slice()
      .sort((a, b) => preference(b, hash) - preference(a, hash))[0];
    if (!current) {
      const reason = previous.has(replica)
        ? "missing: removed outside TreeScale"
        : inventory[spec.name]
          ? `scale up to ${wanted.length} on this node`
          : "new";
      actions.push({
        type: "create",
        node,
        resource: spec.name,
        replica,
        name,
        spec,
        hash,
        fieldHashes: hashes,
        reason,
      });
      continue;
    }
    if (current.hash !== hash || BROKEN_STATES.has(current.state)) {
      const changed = current.hash !== hash ? changedFields(spec, current.fieldHashes) : [];
      const reason =
        current.hash === hash
          ? `container is ${current.state}`
          : changed.length > 0
            ? `${changed.join(", ")} changed`
            : "spec changed";
      actions.push({
        type: "recreate",
        node,
        resource: spec.name,
        replica,
        name: current.name,
        containerId: current.id,
        spec,
        hash,
        fieldHashes: hashes,
        changed,
        reason,
      });
      continue;
    }
    if (!RUNNING_STATES.has(current.state)) {
      actions.push({
        type: "start",
        node,
        resource: spec.name,
        replica,
        name: current.name,
        containerId: current.id,
        reason: `container is ${current.state}`,
      });
      continue;
    }
    unchanged += 1;
  }
  return { actions, unchanged };
}

function removal(
  node: string,
  container: ObservedContainer,
  cause: "scale-down" | "duplicate" | "placement",
  reason: string,
): ContainerAction {
  return {
    type: "remove",
    node,
    resource: container.resource,
    replica: container.replica,
    name: container.name,
    containerId: container.id,
    cause,
    reason,
  };
}

/** Of several containers claiming one replica, keep the one already right and running. */
function preference(container: ObservedContainer, hash: string): number {
  return (container.hash === hash ? 2 : 0) + (RUNNING_STATES.has(container.state) ? 1 : 0);
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
