// The rows `treescale get` prints, built from what the nodes answered: pure, so every kind is a
// unit test. A node that did not answer, or cannot see its engine, is shown as such, never left out.
import type { ServerSpec } from "../model/resources.js";
import { blindKinds, type NodeState } from "../model/wire.js";
import type { NodeController, ObservedObject } from "../reconcile/controller.js";
import type { ServerRecord } from "../state/contexts.js";

export const FIXED_KINDS = {
  nodes: "nodes",
  node: "nodes",
  links: "links",
  link: "links",
  status: "status",
  statuses: "status",
  servers: "servers",
  server: "servers",
} as const;
export type FixedKind = (typeof FIXED_KINDS)[keyof typeof FIXED_KINDS];

export type Row = Record<string, unknown>;

/** Which stacks to show: one, or every stack (`-A`). */
export type StackFilter = { stack?: string };

const shown = (filter: StackFilter, stack: string) => filter.stack === undefined || filter.stack === stack;

/** Rows of a node-scope kind's observed objects. */
export function objectRows(
  controller: NodeController,
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  filter: StackFilter,
): Row[] {
  const items = states.flatMap((s) =>
    ((s.observed[controller.kind]?.items ?? []) as ObservedObject[]).filter((item) =>
      shown(filter, item.stack),
    ),
  );
  const byNode = new Map(states.map((s) => [s.node, s]));
  const rows = controller.rows(items, {
    peers: (node, kind) => (byNode.get(node)?.observed[kind]?.items ?? []) as ObservedObject[],
    entry: (node, stack, kind, name) => byNode.get(node)?.stacks[stack]?.slice.resources[`${kind}/${name}`],
  });
  for (const [name, why] of missingNodes(states, declared, controller.kind))
    rows.push({ name: "?", node: name, state: `unknown (${why})` });
  return rows;
}

/**
 * One row per server declared (-f) or built (the context's record): whether it answers in the tree,
 * what its last build found (Docker, the node image), the version its node runs, and how that build
 * went. Typed for -o json|yaml: null where a value is unknown.
 */
export function serverRows(
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  built: readonly ServerRecord[],
): Row[] {
  const byNode = new Map(states.map((s) => [s.node, s]));
  const records = new Map(built.map((r) => [r.name, r]));
  const declaredParent = (name: string) => declared.find((s) => s.childs.includes(name))?.name;
  const names = new Set([...declared.map((s) => s.name), ...records.keys()]);
  return [...names]
    .sort((a, b) => a.localeCompare(b))
    .map((name) => {
      const state = byNode.get(name);
      const record = records.get(name);
      return {
        name,
        tree: state ? "in the tree" : "not in the tree",
        docker: record?.docker ?? null,
        image: record?.image ?? null,
        // As the running node says; null when it does not answer (or is older than the field).
        node: state?.version ?? null,
        parent: (state ? state.parent : (declaredParent(name) ?? record?.parent)) ?? null,
        lastBuild: record ? lastBuild(record) : "never built",
      };
    });
}

function lastBuild(record: ServerRecord): string {
  if (record.ok) return `${record.builtAt} ok`;
  const where = record.failedStep === undefined ? "" : ` at ${record.failedStep}`;
  return `${record.builtAt} failed${where}${record.error === undefined ? "" : `: ${record.error}`}`;
}

export function treeRows(
  kind: FixedKind,
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  filter: StackFilter,
  built: readonly ServerRecord[] = [],
): Row[] {
  if (kind === "status") return statusRows(states, declared, filter);
  if (kind === "servers") return serverRows(states, declared, built);
  if (kind === "nodes") return nodeRows(states, declared);
  return linkRows(states, declared);
}

function statusRows(
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  filter: StackFilter,
): Row[] {
  const rows: Row[] = states.flatMap((s) =>
    Object.entries(s.stacks)
      .filter(([stack]) => shown(filter, stack))
      .flatMap(([, stack]) =>
        stack.statuses.map((status) => ({
          node: status.node,
          stack: status.stack,
          resource: status.resource,
          condition: status.condition,
          reason: status.reason,
          ready: `${status.ready}/${status.desired}`,
          generation: status.observedGeneration,
          message: status.message,
        })),
      ),
  );
  for (const [name, why] of missingNodes(states, declared)) {
    rows.push({
      node: name,
      stack: filter.stack ?? "*",
      resource: "*",
      condition: "Unknown",
      reason: why.startsWith("cannot see") ? "EngineUnreachable" : "NodeUnreachable",
      ready: "?",
      generation: "?",
      message: why,
    });
  }
  const byPlace = new Intl.Collator("en", { numeric: true }).compare;
  return rows.sort((a, b) =>
    byPlace(`${a.node}/${a.stack}/${a.resource}`, `${b.node}/${b.stack}/${b.resource}`),
  );
}

function nodeRows(states: readonly NodeState[], declared: readonly ServerSpec[]): Row[] {
  const rows: Row[] = states.map((s) => {
    const blind = blindKinds(s.observed);
    const settled = Object.values(s.stacks).every((stack) => stack.settled);
    return {
      name: s.node,
      status: blind.length > 0 ? `NotReady (${blind.join("; ")})` : settled ? "Ready" : "Reconciling",
      // Typed for -o json|yaml (null, arrays); the table prints them as "-" and comma lists.
      parent: s.parent ?? null,
      tags: s.tags,
      stacks: Object.keys(s.stacks),
      objects: Object.values(s.observed).reduce((sum, o) => sum + o.items.length, 0),
    };
  });
  for (const [name, why] of missingNodes(states, declared, undefined, false))
    rows.push({
      name,
      status: `Unreachable (${why})`,
      parent: null,
      tags: null,
      stacks: null,
      objects: null,
    });
  return rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

function linkRows(states: readonly NodeState[], declared: readonly ServerSpec[]): Row[] {
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

/**
 * Nodes whose objects cannot be shown: declared in the manifests but silent, reported down by their
 * parent, or (unless `withBlind` is false) answering but unable to see their engine.
 */
function missingNodes(
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  kind?: string,
  withBlind = true,
): Map<string, string> {
  const answered = new Set(states.map((s) => s.node));
  const missing = new Map<string, string>();
  for (const { name } of declared) if (!answered.has(name)) missing.set(name, "did not answer");
  for (const state of states) {
    for (const child of state.children) {
      if (child.status === "down" && !answered.has(child.node)) {
        missing.set(child.node, `down since ${child.since}: ${child.reason ?? "link lost"}`);
      }
    }
    if (!withBlind) continue;
    const observed =
      kind === undefined ? state.observed : { [kind]: state.observed[kind] ?? { synced: true, items: [] } };
    const blind = blindKinds(observed);
    if (blind.length > 0) missing.set(state.node, `cannot see its objects: ${blind.join("; ")}`);
  }
  return missing;
}
