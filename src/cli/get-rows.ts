// The rows `treescale get` prints, built from what the nodes answered: pure, so every kind is a
// unit test. A node that did not answer, or cannot see its engine, is shown as such, never left out.
import type { ServerSpec } from "../model/resources.js";
import { blindKinds, type NodeState } from "../model/wire.js";
import type { NodeController, ObservedObject } from "../reconcile/controller.js";
import type { ServerRecord } from "../state/contexts.js";
import { naturalCompare } from "../util/natural-order.js";
import type { Row, RowShape } from "./row-output.js";
import { hasTags, type LabelSelector, matchesLabels } from "./selectors.js";

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

export type { Row };

/**
 * Which rows to show: one stack or every stack (`-A`); objects whose labels match `-l`; what is on
 * nodes carrying every `--tag`.
 */
export type StackFilter = { stack?: string; labels?: LabelSelector; tags?: readonly string[] };

const shown = (filter: StackFilter, stack: string) => filter.stack === undefined || filter.stack === stack;

const labelled = (filter: StackFilter, item: unknown) =>
  filter.labels === undefined ||
  matchesLabels(filter.labels, (item as { labels?: Record<string, string> }).labels ?? {});

/** The nodes --tag keeps; without --tag, all. */
function tagged(states: readonly NodeState[], filter: StackFilter): NodeState[] {
  const tags = filter.tags ?? [];
  return states.filter((s) => hasTags(tags, s.tags));
}

/**
 * Whether a node that did not answer may carry the --tag asked for: its declared tags, else what its
 * parent last knew; one whose tags nobody knows stays listed (unknown is said, never hidden).
 */
function mayCarry(
  name: string,
  filter: StackFilter,
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
): boolean {
  const tags = filter.tags ?? [];
  if (tags.length === 0) return true;
  const known =
    declared.find((s) => s.name === name)?.tags ??
    states.flatMap((s) => s.children).find((c) => c.node === name)?.tags;
  return known === undefined || hasTags(tags, known);
}

/** How each kind's rows read in `-o wide` and `-o name`. */
export function objectShape(controller: NodeController): RowShape {
  return {
    wide: [...(controller.wideColumns ?? []), "nodeAddress"],
    // A replica as compose and `logs` name it (container/web-1), else the object's name.
    nameOf: (row) =>
      typeof row.replica === "number" && row.resource !== undefined
        ? `${controller.kind}/${String(row.resource)}-${row.replica}`
        : `${controller.kind}/${String(row.name)}`,
  };
}

export const TREE_SHAPES: Record<FixedKind, RowShape> = {
  nodes: { wide: ["address", "children"], nameOf: (row) => `node/${String(row.name)}` },
  links: { wide: ["since"], nameOf: (row) => `link/${String(row.child)}` },
  status: {
    wide: ["generation", "since"],
    nameOf: (row) => `${String(row.resource)}@${String(row.node)}`,
  },
  servers: {
    wide: ["docker", "image"],
    nameOf: (row) => `server/${String(row.name)}`,
    show: {
      tree: (value) => showStanding(value as TreeStanding),
      lastBuild: (value) => showLastBuild(value as LastBuild | null),
    },
  },
};

/** Rows of a node-scope kind's observed objects. */
export function objectRows(
  controller: NodeController,
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  filter: StackFilter,
): Row[] {
  const items = tagged(states, filter).flatMap((s) =>
    ((s.observed[controller.kind]?.items ?? []) as ObservedObject[]).filter(
      (item) => shown(filter, item.stack) && labelled(filter, item),
    ),
  );
  const byNode = new Map(states.map((s) => [s.node, s]));
  const rows: Row[] = controller
    .rows(items, {
      peers: (node, kind) => (byNode.get(node)?.observed[kind]?.items ?? []) as ObservedObject[],
      entry: (node, stack, kind, name) => byNode.get(node)?.stacks[stack]?.slice.resources[`${kind}/${name}`],
    })
    .map((row) => ({ ...row, nodeAddress: byNode.get(String(row.node))?.listen ?? null }));
  for (const [name, why] of missingNodes(states, declared, controller.kind)) {
    if (mayCarry(name, filter, states, declared))
      rows.push({ name: "?", node: name, state: `unknown (${why})`, nodeAddress: null });
  }
  return rows;
}

/**
 * Where a server stands in the tree: whether its node answered, and since when its parent has had
 * the link up (joined) or down (not joined, with the parent's reason); null where nobody said.
 */
export type TreeStanding = { joined: boolean; since: string | null; reason: string | null };

/** How the last build that reached a server went: when it ended (ISO 8601), and the step that failed. */
export type LastBuild = { at: string; ok: boolean; failedStep: string | null; error: string | null };

/**
 * One row per server declared (-f) or built (the context's record): whether it answers in the tree,
 * what its last build found (Docker, the node image), the version its node runs, and how that build
 * went. Typed for -o json|yaml: null where a value is unknown; the table shows them as sentences.
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
  return [...names].sort(naturalCompare).map((name) => {
    const state = byNode.get(name);
    const record = records.get(name);
    const parent = (state ? state.parent : (declaredParent(name) ?? record?.parent)) ?? null;
    // The parent's view of the link: since when it is up, or down and why.
    const link = states.flatMap((s) => s.children).find((child) => child.node === name);
    const tree: TreeStanding = {
      joined: state !== undefined,
      since: link && (state !== undefined) === (link.status === "up") ? link.since : null,
      reason: state === undefined && link?.status === "down" ? (link.reason ?? null) : null,
    };
    const lastBuild: LastBuild | null = record
      ? {
          at: record.builtAt,
          ok: record.ok,
          failedStep: record.failedStep ?? null,
          error: record.error ?? null,
        }
      : null;
    return {
      name,
      tree,
      docker: record?.docker ?? null,
      image: record?.image ?? null,
      // As the running node says; null when it does not answer (or is older than the field).
      node: state?.version ?? null,
      parent,
      lastBuild,
    };
  });
}

function showStanding(tree: TreeStanding): string {
  if (tree.joined) return "in the tree";
  if (tree.since === null) return "not in the tree";
  return `not in the tree (down since ${tree.since}${tree.reason === null ? "" : `: ${tree.reason}`})`;
}

function showLastBuild(build: LastBuild | null): string {
  if (build === null) return "never built";
  if (build.ok) return `${build.at} ok`;
  const where = build.failedStep === null ? "" : ` at ${build.failedStep}`;
  return `${build.at} failed${where}${build.error === null ? "" : `: ${build.error}`}`;
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
  if (kind === "nodes") return nodeRows(states, declared, filter);
  return linkRows(states, declared);
}

function statusRows(
  states: readonly NodeState[],
  declared: readonly ServerSpec[],
  filter: StackFilter,
): Row[] {
  const rows: Row[] = tagged(states, filter).flatMap((s) =>
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
          since: status.since,
        })),
      ),
  );
  for (const [name, why] of missingNodes(states, declared)) {
    if (!mayCarry(name, filter, states, declared)) continue;
    rows.push({
      node: name,
      stack: filter.stack ?? "*",
      resource: "*",
      condition: "Unknown",
      reason: why.startsWith("cannot see") ? "EngineUnreachable" : "NodeUnreachable",
      ready: "?",
      generation: "?",
      message: why,
      since: null,
    });
  }
  return rows.sort((a, b) =>
    naturalCompare(`${a.node}/${a.stack}/${a.resource}`, `${b.node}/${b.stack}/${b.resource}`),
  );
}

function nodeRows(states: readonly NodeState[], declared: readonly ServerSpec[], filter: StackFilter): Row[] {
  const rows: Row[] = tagged(states, filter).map((s) => {
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
      address: s.listen ?? null,
      children: s.children.map((c) => c.node),
    };
  });
  for (const [name, why] of missingNodes(states, declared, undefined, false)) {
    if (!mayCarry(name, filter, states, declared)) continue;
    rows.push({
      name,
      status: `Unreachable (${why})`,
      parent: null,
      tags: null,
      stacks: null,
      objects: null,
      address: null,
      children: null,
    });
  }
  return rows.sort((a, b) => naturalCompare(String(a.name), String(b.name)));
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
        since:
          states.find((p) => p.node === s.parent)?.children.find((c) => c.node === s.node)?.since ?? null,
      };
    });
  for (const edge of declaredEdges) {
    if (!states.some((s) => s.node === edge.child))
      rows.push({
        parent: edge.parent,
        child: edge.child,
        status: "Pending (child not running)",
        since: null,
      });
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
          since: child.since,
        });
      }
    }
  }
  return rows.sort((a, b) => naturalCompare(String(a.child), String(b.child)));
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
