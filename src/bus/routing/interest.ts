// Aggregated interest per link, kept by refcount. Every link (children and the parent alike) is told the
// union of all interest *except its own*, so publishes flow only toward subtrees where someone can receive
// them. Pure: no sockets, no clocks — the server feeds it changes and sends the deltas it returns.
import type { Declaration } from "../protocol/messages.js";

/**
 * Interest keys (also on the wire, in INTEREST frames):
 *   "e\t<event>"              someone subscribes to <event> ("*" = every event)
 *   "t\t<event>\t<tag>"       a subscriber of <event> carries tag <tag>; "g" for groups, "c" for channels
 *   "n\t<node>"               node <node> is reachable through this link
 */
export const WILDCARD = "*";

export function eventKey(event: string): string {
  return `e\t${event}`;
}
export function nodeKey(node: string): string {
  return `n\t${node}`;
}
function memberKey(kind: "t" | "g" | "c", event: string, value: string): string {
  return `${kind}\t${event}\t${value}`;
}

/** The keys one subscriber contributes. */
export function declarationKeys(declaration: Declaration): string[] {
  const keys: string[] = [];
  for (const event of declaration.events) {
    keys.push(eventKey(event));
    for (const tag of declaration.tags) keys.push(memberKey("t", event, tag));
    for (const group of declaration.groups) keys.push(memberKey("g", event, group));
    for (const channel of declaration.channels) keys.push(memberKey("c", event, channel));
  }
  return keys;
}

export interface RouteTarget {
  event: string;
  node: string;
  tag: string;
  group: string;
  channel: string;
}

function hasMember(keys: ReadonlySet<string>, kind: "t" | "g" | "c", event: string, value: string): boolean {
  return keys.has(memberKey(kind, event, value)) || keys.has(memberKey(kind, WILDCARD, value));
}

/**
 * Whether a set of interest keys may hold a receiver for this target. Exact for a single target field;
 * for several fields at once it may over-approximate (members split across subscribers), and the final
 * node's per-subscriber match decides.
 */
export function interestMatches(keys: ReadonlySet<string>, target: RouteTarget): boolean {
  if (target.node && !keys.has(nodeKey(target.node))) return false;
  if (!keys.has(eventKey(target.event)) && !keys.has(eventKey(WILDCARD))) return false;
  if (target.tag && !hasMember(keys, "t", target.event, target.tag)) return false;
  if (target.group && !hasMember(keys, "g", target.event, target.group)) return false;
  if (target.channel && !hasMember(keys, "c", target.event, target.channel)) return false;
  return true;
}

/** A subscriber's own membership, for the exact match at the last node. */
export interface Membership {
  events: ReadonlySet<string>;
  tags: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  channels: ReadonlySet<string>;
}

export function membershipMatches(member: Membership, target: RouteTarget): boolean {
  if (!member.events.has(target.event) && !member.events.has(WILDCARD)) return false;
  if (target.tag && !member.tags.has(target.tag)) return false;
  if (target.group && !member.groups.has(target.group)) return false;
  if (target.channel && !member.channels.has(target.channel)) return false;
  return true;
}

export interface InterestDelta {
  add: string[];
  remove: string[];
}

/** Refcounted interest of local subscribers plus the sets advertised by each link. */
export class InterestTable<Link> {
  private readonly total = new Map<string, number>();
  private readonly links = new Map<Link, Set<string>>();
  private readonly watchers = new Map<string, Set<(present: boolean) => void>>();
  /** Changes whenever any key or link changes: lets callers cache routing decisions between changes. */
  version = 0;

  /** What a link told us its side holds. */
  interestOf(link: Link): ReadonlySet<string> {
    return this.links.get(link) ?? new Set();
  }

  hasLink(link: Link): boolean {
    return this.links.has(link);
  }

  /** Everything this node should advertise to `link`: all interest except the link's own. */
  advertisedTo(link: Link): string[] {
    const own = this.links.get(link);
    const keys: string[] = [];
    for (const [key, count] of this.total) {
      if (count - (own?.has(key) ? 1 : 0) > 0) keys.push(key);
    }
    return keys;
  }

  /** A new link; returns the full set to advertise to it. Adding it changes nothing for the others yet. */
  addLink(link: Link): string[] {
    if (!this.links.has(link)) this.links.set(link, new Set());
    this.version++;
    return this.advertisedTo(link);
  }

  /** Drops a link and its interest; returns the deltas for the remaining links. */
  removeLink(link: Link): Map<Link, InterestDelta> {
    const own = this.links.get(link);
    this.version++;
    if (!own) return new Map();
    const deltas = this.applyLink(link, { add: [], remove: [...own] });
    this.links.delete(link);
    deltas.delete(link);
    return deltas;
  }

  addLocal(keys: Iterable<string>): Map<Link, InterestDelta> {
    const deltas = new Map<Link, InterestDelta>();
    for (const key of keys) this.change(key, 1, undefined, deltas);
    return deltas;
  }

  removeLocal(keys: Iterable<string>): Map<Link, InterestDelta> {
    const deltas = new Map<Link, InterestDelta>();
    for (const key of keys) this.change(key, -1, undefined, deltas);
    return deltas;
  }

  /** Applies an INTEREST frame from `link`; duplicates and unknown removals are ignored. */
  applyLink(link: Link, delta: InterestDelta): Map<Link, InterestDelta> {
    const deltas = new Map<Link, InterestDelta>();
    let own = this.links.get(link);
    if (!own) {
      own = new Set();
      this.links.set(link, own);
    }
    this.version++;
    for (const key of delta.add) {
      if (own.has(key)) continue;
      this.change(key, 1, link, deltas);
      own.add(key);
    }
    for (const key of delta.remove) {
      if (!own.has(key)) continue;
      this.change(key, -1, link, deltas);
      own.delete(key);
    }
    return deltas;
  }

  /** Count of a key across local subscribers and links (for tests and metrics). */
  count(key: string): number {
    return this.total.get(key) ?? 0;
  }

  get size(): number {
    return this.total.size;
  }

  /**
   * Calls `listener` whenever `key` appears in or leaves the table (from any local subscriber or link),
   * so a producer can work only while someone can receive; returns the function that stops the calls.
   */
  watch(key: string, listener: (present: boolean) => void): () => void {
    let listeners = this.watchers.get(key);
    if (!listeners) {
      listeners = new Set();
      this.watchers.set(key, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.watchers.delete(key);
    };
  }

  private change(key: string, by: 1 | -1, source: Link | undefined, deltas: Map<Link, InterestDelta>): void {
    const before = this.total.get(key) ?? 0;
    const after = before + by;
    if (after < 0) return;
    this.version++;
    if (after === 0) this.total.delete(key);
    else this.total.set(key, after);
    if (before === 0 || after === 0) for (const listener of this.watchers.get(key) ?? []) listener(after > 0);
    for (const [link, own] of this.links) {
      if (link === source) continue;
      const mine = own.has(key) ? 1 : 0;
      const wasVisible = before - mine > 0;
      const isVisible = after - mine > 0;
      if (wasVisible === isVisible) continue;
      let delta = deltas.get(link);
      if (!delta) {
        delta = { add: [], remove: [] };
        deltas.set(link, delta);
      }
      // A key that flips twice within one batch cancels out rather than reaching the peer in both lists.
      const [same, opposite] = isVisible ? [delta.add, delta.remove] : [delta.remove, delta.add];
      const cancelled = opposite.indexOf(key);
      if (cancelled >= 0) opposite.splice(cancelled, 1);
      else same.push(key);
    }
  }
}
