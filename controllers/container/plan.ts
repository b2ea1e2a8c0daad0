// The pure diff of one node's container entries against what its engine reports. No I/O: given
// the same inputs it returns the same plan, which is what lets `diff` and `apply` agree.
import { containerName } from "../../src/model/labels.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import type { NodePlan, NodePlanInput, PlanNote, SliceEntry } from "../../src/reconcile/controller.js";
import type { ContainerAction } from "./actions.js";
import { fieldChanges } from "./field-changes.js";
import { changedFields, fieldHashes, HASHED_FIELDS, specHash } from "./spec-hash.js";

const PHASE: Record<ContainerAction["type"], number> = { remove: 0, recreate: 1, create: 2, start: 3 };
const RUNNING_STATES = new Set(["running", "restarting"]);
const BROKEN_STATES = new Set(["dead", "removing"]);

/** The plan for one node's slice against that node's containers. */
export function planContainers(
  input: NodePlanInput<ContainerSpec, ObservedContainer>,
): NodePlan<ContainerAction> {
  const { node, stack, entries: slice, inventory } = input;
  const at = { node, stack };
  const actions: ContainerAction[] = [];
  const notes: PlanNote[] = [];
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
          kind: "container",
          ...at,
          resource,
          replica: container.replica,
          name: container.name,
          containerId: container.id,
          cause: "prune",
          reason: "left the manifests",
        });
      } else {
        notes.push({
          kind: "container",
          node,
          resource,
          verb: "kept",
          target: container.name,
          reason: input.prune
            ? "not in this node's record of applied resources, so not pruned"
            : "no longer declared; run with --prune to remove it",
        });
      }
    }
  }

  for (const [name, entry] of Object.entries(slice)) {
    if (input.only !== undefined && name !== input.only) continue;
    const result = planResource(
      at,
      entry.spec,
      entry.replicas,
      byResource.get(name) ?? [],
      inventory,
      input.held?.[name],
    );
    actions.push(...result.actions);
    unchanged += result.unchanged;
  }
  actions.sort(byPhaseThenName);
  // A container `docker rm -f` is still removing is neither there nor gone: wait for it to go.
  const transient = observed.filter((c) => c.state === "removing").map((c) => c.id);
  return { actions, notes, unchanged, ...(transient.length > 0 ? { transient } : {}) };
}

function byPhaseThenName(a: ContainerAction, b: ContainerAction): number {
  return PHASE[a.type] - PHASE[b.type] || a.name.localeCompare(b.name);
}

type At = { node: string; stack: string };

function planResource(
  at: At,
  spec: ContainerSpec,
  wanted: readonly number[],
  observed: readonly ObservedContainer[],
  inventory: NodePlanInput<ContainerSpec, ObservedContainer>["inventory"],
  held: SliceEntry<ContainerSpec> | undefined,
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
      actions.push(removal(at, extra, "duplicate", `duplicate of replica ${replica}`));
    }
    if (!keep || wantedSet.has(replica)) continue;
    const cause =
      wanted.length === 0 && spec.replicas > 0 && spec.mode === "replicated" ? "placement" : "scale-down";
    actions.push(
      removal(
        at,
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
    const name = containerName(at.stack, at.node, spec.name, replica);
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
        kind: "container",
        ...at,
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
      // The held spec tells the old values only when it is what this container was made from.
      const before = held !== undefined && specHash(held.spec) === current.hash ? held.spec : undefined;
      const changes =
        before === undefined || current.hash === hash
          ? undefined
          : fieldChanges(before, spec, changed.length > 0 ? changed : HASHED_FIELDS);
      actions.push({
        type: "recreate",
        kind: "container",
        ...at,
        resource: spec.name,
        replica,
        name: current.name,
        containerId: current.id,
        spec,
        hash,
        fieldHashes: hashes,
        changed,
        ...(changes !== undefined ? { changes } : {}),
        reason,
      });
      continue;
    }
    if (!RUNNING_STATES.has(current.state)) {
      actions.push({
        type: "start",
        kind: "container",
        ...at,
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
  at: At,
  container: ObservedContainer,
  cause: "scale-down" | "duplicate" | "placement",
  reason: string,
): ContainerAction {
  return {
    type: "remove",
    kind: "container",
    ...at,
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
