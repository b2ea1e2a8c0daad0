// Which node runs which replica. Pure and stable: the same manifests and nodes always give
// the same assignment, so a re-apply never shuffles containers between nodes.
import type { ContainerSpec, Placement as PlacementRule } from "../../src/model/resources.js";
import type { NodeInfo, Placement, Unschedulable } from "../../src/reconcile/controller.js";

function matchesPlacement(node: NodeInfo, placement: PlacementRule): boolean {
  if (placement.nodes && placement.nodes.length > 0 && !placement.nodes.includes(node.name)) return false;
  if (
    placement.tags &&
    placement.tags.length > 0 &&
    !placement.tags.every((tag) => node.tags.includes(tag))
  ) {
    return false;
  }
  return true;
}

export function assignReplicas(
  containers: Readonly<Record<string, ContainerSpec>>,
  nodes: readonly NodeInfo[],
): Placement {
  const shares: Placement["shares"] = new Map();
  const unschedulable: Unschedulable[] = [];
  const sortedNodes = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  for (const spec of Object.values(containers)) {
    const eligible = sortedNodes.filter((node) => matchesPlacement(node, spec.placement));
    const perNode = new Map<string, number[]>();
    shares.set(spec.name, perNode);
    if (eligible.length === 0) {
      if (spec.mode === "global" || spec.replicas > 0) {
        unschedulable.push({
          kind: "container",
          resource: spec.name,
          reason: `no node matches placement ${describe(spec.placement)}`,
        });
      }
      continue;
    }
    if (spec.mode === "global") {
      for (const node of eligible) perNode.set(node.name, [1]);
      continue;
    }
    // Round-robin by replica index: replica k always lands on the same node for a given node set.
    for (let replica = 1; replica <= spec.replicas; replica++) {
      const node = eligible[(replica - 1) % eligible.length]!;
      const list = perNode.get(node.name) ?? [];
      list.push(replica);
      perNode.set(node.name, list);
    }
  }
  return { shares, unschedulable };
}

function describe(placement: PlacementRule): string {
  const parts: string[] = [];
  if (placement.nodes?.length) parts.push(`nodes=[${placement.nodes.join(", ")}]`);
  if (placement.tags?.length) parts.push(`tags=[${placement.tags.join(", ")}]`);
  return parts.length > 0 ? parts.join(" ") : "(any)";
}
