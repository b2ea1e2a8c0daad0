// How the page reads the tree: each node's status from what answered the last gather, what its parent
// says of its link, and the node.up / node.down events seen since. Pure, so it is a unit test.
import type { NodeState } from "../model/wire.js";

/** What node.down carries (src/bus/server/node-links.ts). */
export type NodeDown = {
  node: string;
  parent: string;
  reason: string;
  message: string;
  detectionMs: number;
  at: string;
};

/** What node.up carries. */
export type NodeUp = { node: string; parent: string; at: string };

export type NodeHealth =
  /** Answered the last gather and sees its engine. */
  | "up"
  /** Answered, but cannot see one of its kinds (its engine does not answer). */
  | "blind"
  /** Its parent reports its link down (node.down, or the parent's children list). */
  | "down"
  /** Known (seen before, or a child of a node that answered) but did not answer: perhaps below a down node. */
  | "unreachable";

export type NodeRow = {
  name: string;
  health: NodeHealth;
  /** Why the node is not up, in words. */
  detail: string;
  parent: string | undefined;
  depth: number;
  tags: readonly string[];
  stacks: readonly string[];
  /** The answer it gave last, even when it is now unreachable (shown greyed, never as empty). */
  state: NodeState | undefined;
};

/** A link's last up or down as the page heard it. */
export type LinkEvent = { kind: "up"; event: NodeUp } | { kind: "down"; event: NodeDown };

export type TreeInput = {
  /** Answers of the latest gather, by node. */
  answered: ReadonlyMap<string, NodeState>;
  /** The last answer ever seen from each node. */
  lastKnown: ReadonlyMap<string, NodeState>;
  /** The latest node.up / node.down per node, received after the gather began or later. */
  links: ReadonlyMap<string, LinkEvent & { receivedAt: number }>;
  /** When the latest gather began: a node.down older than an answer is superseded by it. */
  gatheredAt: number;
};

/** One row per node known, parents before their children (depth-first, by name). */
export function treeRows(input: TreeInput): NodeRow[] {
  const names = new Set<string>([...input.lastKnown.keys(), ...input.answered.keys(), ...input.links.keys()]);
  const parentOf = new Map<string, string | undefined>();
  for (const state of [...input.lastKnown.values(), ...input.answered.values()]) {
    parentOf.set(state.node, state.parent);
    for (const child of state.children) {
      names.add(child.node);
      if (!parentOf.has(child.node)) parentOf.set(child.node, state.node);
    }
  }
  for (const [name, link] of input.links) if (!parentOf.get(name)) parentOf.set(name, link.event.parent);
  const downByParent = new Map<string, { since: string; reason?: string }>();
  for (const state of input.answered.values())
    for (const child of state.children)
      if (child.status === "down")
        downByParent.set(child.node, {
          since: child.since,
          ...(child.reason ? { reason: child.reason } : {}),
        });

  const status = (name: string): { health: NodeHealth; detail: string } => {
    const link = input.links.get(name);
    const answer = input.answered.get(name);
    if (link?.kind === "down" && (!answer || link.receivedAt >= input.gatheredAt))
      return {
        health: "down",
        detail: `down since ${link.event.at} (${link.event.reason}: ${link.event.message}), detected in ${link.event.detectionMs} ms`,
      };
    if (!answer) {
      const down = downByParent.get(name);
      if (down) return { health: "down", detail: `down since ${down.since} (${down.reason ?? "link lost"})` };
      const above = downAncestor(name);
      return {
        health: "unreachable",
        detail: above ? `unreachable: below ${above}, which is down` : "unreachable: did not answer",
      };
    }
    const blind = Object.entries(answer.observed)
      .filter(([, o]) => !o.synced || o.error !== undefined)
      .map(([kind, o]) => `${kind}: ${o.error ?? "not listed yet"}`);
    return blind.length > 0
      ? { health: "blind", detail: `cannot see ${blind.join("; ")}` }
      : { health: "up", detail: "" };
  };
  const downAncestor = (name: string): string | undefined => {
    const seen = new Set<string>();
    for (let at = parentOf.get(name); at !== undefined && !seen.has(at); at = parentOf.get(at)) {
      seen.add(at);
      const link = input.links.get(at);
      if ((link?.kind === "down" && !input.answered.has(at)) || downByParent.has(at)) return at;
    }
    return undefined;
  };

  const children = new Map<string | undefined, string[]>();
  for (const name of names) {
    const parent = parentOf.get(name);
    const key = parent !== undefined && names.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), name]);
  }
  const rows: NodeRow[] = [];
  const visit = (name: string, depth: number, path: Set<string>) => {
    if (path.has(name)) return;
    const state = input.answered.get(name) ?? input.lastKnown.get(name);
    rows.push({
      name,
      ...status(name),
      parent: parentOf.get(name),
      depth,
      tags: state?.tags ?? [],
      stacks: state ? Object.keys(state.stacks) : [],
      state,
    });
    for (const child of (children.get(name) ?? []).sort()) visit(child, depth + 1, new Set([...path, name]));
  };
  for (const root of (children.get(undefined) ?? []).sort()) visit(root, 0, new Set());
  return rows;
}

/** The latest node.down the page has heard of, for "last failure detected in …". */
export function lastFailure(
  links: ReadonlyMap<string, LinkEvent & { receivedAt: number }>,
): NodeDown | undefined {
  let latest: (NodeDown & { receivedAt: number }) | undefined;
  for (const link of links.values())
    if (link.kind === "down" && (!latest || link.receivedAt > latest.receivedAt))
      latest = { ...link.event, receivedAt: link.receivedAt };
  if (!latest) return undefined;
  const { receivedAt: _, ...event } = latest;
  return event;
}
