// What a node has yet to tell each link about its interest. Changes are gathered and sent once per turn
// of the event loop, so a burst of subscriptions (or a batch of INTEREST frames read in one go) makes one
// INTEREST frame per link instead of one per change. The keys a *lost* link took away are withdrawn from
// the other links only after a grace period: when a node dies and its children re-link to their
// grandparent within it, their subtree's keys come back before anyone was told they left, so the rest of
// the tree sees neither a flood of removals nor the same flood of additions after it (with 1,000 nodes,
// the two floods were what kept the subtree from re-linking quickly). While a removal is held, a publish
// may still travel toward a key that left; the next node has no receiver for it and drops it, as it would
// for a node that died silently and is not detected yet.
import type { InterestDelta } from "../routing/interest.js";
import { interestFrames } from "./interest-frames.js";

/** The part of a connection the outbox uses: whether it routes, and a way to send it a frame. */
export interface InterestLink {
  readonly state: string;
  send(frame: Uint8Array): boolean;
}

/**
 * For one link, the changes not sent yet. The peer believes a key present when it is in `remove` or
 * `held` (told, not yet withdrawn), absent when it is in `add` (not told yet); the three never overlap.
 */
interface Unsent {
  add: Set<string>;
  remove: Set<string>;
  held: Set<string>;
}

export class InterestOutbox<Link extends InterestLink> {
  private readonly unsent = new Map<Link, Unsent>();
  private flushing: ReturnType<typeof setImmediate> | undefined;
  private holding: ReturnType<typeof setTimeout> | undefined;

  constructor(
    /** Largest INTEREST frame sent. */
    private readonly frameBytes: number,
    /** How long removals caused by a lost link wait before they are sent. */
    private readonly holdMs: number,
  ) {}

  /**
   * Queues changes for their links. `held` picks the removals that come from a lost link and may come
   * back through another one: they wait, and are sent together `holdMs` after the first of them (a link
   * lost later in that window has a shorter grace, never an unbounded one).
   */
  queue(deltas: ReadonlyMap<Link, InterestDelta>, held?: (key: string) => boolean): void {
    let holding = false;
    for (const [link, delta] of deltas) {
      let unsent = this.unsent.get(link);
      if (!unsent) {
        unsent = { add: new Set(), remove: new Set(), held: new Set() };
        this.unsent.set(link, unsent);
      }
      for (const key of delta.add) {
        // Still believed present (its removal not sent yet): nothing to tell.
        if (!unsent.remove.delete(key) && !unsent.held.delete(key)) unsent.add.add(key);
      }
      for (const key of delta.remove) {
        // Never told: nothing to take back.
        if (unsent.add.delete(key)) continue;
        if (held?.(key)) {
          unsent.held.add(key);
          holding = true;
        } else unsent.remove.add(key);
      }
    }
    this.flushing ??= setImmediate(() => this.flush(false));
    if (holding && this.holding === undefined) {
      this.holding = setTimeout(() => this.flush(true), this.holdMs);
      this.holding.unref();
    }
  }

  /** The link is gone (or is new): nothing is owed to it. */
  forget(link: Link): void {
    this.unsent.delete(link);
  }

  /** Sends what is due: the additions and removals, and with `held` the removals held back too. */
  private flush(held: boolean): void {
    if (held) this.holding = undefined;
    else this.flushing = undefined;
    for (const [link, unsent] of this.unsent) {
      if (link.state !== "ready") {
        this.unsent.delete(link);
        continue;
      }
      const remove = [...unsent.remove];
      if (held) {
        remove.push(...unsent.held);
        unsent.held.clear();
      }
      if (unsent.add.size > 0 || remove.length > 0) {
        for (const frame of interestFrames({ add: [...unsent.add], remove }, this.frameBytes))
          link.send(frame);
      }
      unsent.add.clear();
      unsent.remove.clear();
      if (unsent.held.size === 0) this.unsent.delete(link);
    }
  }
}
