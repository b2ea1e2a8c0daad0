// The rows `treescale get` prints, built from what was gathered: pure, so every kind is a unit test.
import type { NodeState } from "../agent/status.js";
import type { ObservedContainer } from "../model/observed.js";
import type { ServerSpec } from "../model/resources.js";
import type { LastApplied } from "../state/last-applied.js";

export const KINDS = {
  containers: "containers",
  container: "containers",
  nodes: "nodes",
  node: "nodes",
  links: "links",
  link: "links",
  status: "status",
  statuses: "status",
} as const;
export type Kind = (typeof KINDS)[keyof typeof KINDS];

export type Row = Record<string, string | number>;

/** Rows from the states the tree's agents answered; declared servers that did not answer still appear. */
export function treeRows(kind: Kind, states: readonly NodeState[], declared: readonly ServerSpec[]): Row[] {
  const missing = missingNodes(
    states,
    declared.map((s) => s.name),
  );
  if (kind === "containers") {
    const rows = containerRows(states.flatMap((s) => s.containers));
    for (const [name, why] of missing)
      rows.push({
        name: "?",
        resource: "?",
        node: name,
        image: "?",
        state: `unknown (${why})`,
        health: "",
        id: "",
      });
    return rows;
  }
  if (kind === "status") {
    const rows: Row[] = states.flatMap((s) =>
      s.statuses.map((status) => ({
        node: status.node,
        resource: status.resource,
        condition: status.condition,
        reason: status.reason,
        ready: `${status.ready}/${status.desired}`,
        generation: status.observedGeneration,
        message: status.message,
      })),
    );
    for (const [name, why] of missing) {
      rows.push({
        node: name,
        resource: "*",
        condition: "Unknown",
        reason: "NodeUnreachable",
        ready: "?",
        generation: "?",
        message: why,
      });
    }
    return rows.sort((a, b) => `${a.node}/${a.resource}`.localeCompare(`${b.node}/${b.resource}`));
  }
  if (kind === "nodes") {
    const rows: Row[] = states.map((s) => ({
      name: s.node,
      status: s.settled ? "Ready" : "Reconciling",
      parent: s.parent ?? "-",
      tags: s.tags.join(",") || "-",
      containers: s.containers.length,
      generation: s.generation,
    }));
    for (const [name, why] of missing)
      rows.push({
        name,
        status: `Unreachable (${why})`,
        parent: "?",
        tags: "?",
        containers: "?",
        generation: "?",
      });
    return rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }
  const declaredEdges = declared.flatMap((server) =>
    server.childs.map((child) => ({ parent: server.name, child })),
  );
  const rows: Row[] = states
    .filter((s) => s.parent !== undefined)
    .map((s) => {
      const wanted = declaredEdges.find((e) => e.child === s.node);
      return {
        parent: s.parent ?? "-",
        child: s.node,
        status:
          !wanted || wanted.parent === s.parent ? "Connected" : `Connected (declared under ${wanted.parent})`,
      };
    });
  for (const edge of declaredEdges) {
    if (!states.some((s) => s.node === edge.child))
      rows.push({ parent: edge.parent, child: edge.child, status: "Pending (child not running)" });
  }
  for (const state of states) {
    for (const child of state.children) {
      if (
        child.status === "down" &&
        !states.some((s) => s.node === child.node) &&
        !rows.some((r) => r.child === child.node)
      ) {
        rows.push({
          parent: state.node,
          child: child.node,
          status: `Down since ${child.since} (${child.reason ?? "unknown"})`,
        });
      }
    }
  }
  return rows.sort((a, b) => String(a.child).localeCompare(String(b.child)));
}

/** Rows read off this machine's engine for the embedded node, against what it recorded as applied. */
export function engineRows(
  kind: Kind,
  node: string,
  containers: readonly ObservedContainer[],
  applied: LastApplied,
): Row[] {
  if (kind === "containers") return containerRows(containers);
  if (kind === "nodes") {
    return [
      {
        name: node,
        status: "Ready",
        parent: "-",
        tags: "-",
        containers: containers.length,
        generation: applied.generation,
      },
    ];
  }
  if (kind === "status") return engineStatusRows(node, containers, applied);
  return [];
}

/**
 * Without an agent, status is read off the engine against what this node recorded as applied:
 * Ready when every recorded replica runs (and is not failing its health check).
 */
function engineStatusRows(
  node: string,
  containers: readonly ObservedContainer[],
  applied: LastApplied,
): Row[] {
  return Object.entries(applied.inventory)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, { replicas }]) => {
      const mine = containers.filter((c) => c.resource === resource && replicas.includes(c.replica));
      const running = mine.filter((c) => c.state === "running" && c.health !== "unhealthy").length;
      const unhealthy = mine.some((c) => c.health === "unhealthy");
      const condition = unhealthy ? "Stalled" : running === replicas.length ? "Ready" : "Reconciling";
      const reason = unhealthy ? "Unhealthy" : running === replicas.length ? "Converged" : "NotRunning";
      return {
        node,
        resource,
        condition,
        reason,
        ready: `${running}/${replicas.length}`,
        generation: applied.generation,
        message: `${running}/${replicas.length} replicas running`,
      };
    });
}

/** Nodes that should have answered and did not: declared in the manifests, or reported down by their parent. */
function missingNodes(states: readonly NodeState[], declared: readonly string[]): Map<string, string> {
  const answered = new Set(states.map((s) => s.node));
  const missing = new Map<string, string>();
  for (const name of declared) if (!answered.has(name)) missing.set(name, "did not answer");
  for (const state of states) {
    for (const child of state.children) {
      if (child.status === "down" && !answered.has(child.node)) {
        missing.set(child.node, `down since ${child.since}: ${child.reason ?? "link lost"}`);
      }
    }
  }
  return missing;
}

function containerRows(containers: readonly ObservedContainer[]): Row[] {
  return [...containers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({
      name: c.name,
      resource: c.resource,
      node: c.node,
      replica: c.replica,
      image: c.image,
      state: c.state,
      health: c.health ?? "",
      id: c.id.slice(0, 12),
      created: c.createdAt,
    }));
}
