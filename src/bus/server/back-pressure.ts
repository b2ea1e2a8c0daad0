// Back-pressure between a congested node link and the senders feeding it. A link to another node is
// back-pressure, not a slow consumer: when it holds half its limit, the sender feeding it stops being read
// until the link drains, so a flooding publisher slows down (TCP pushes back to it) instead of cutting a
// whole subtree off. Client consumers are still cut off at the limit (see Peer.send).
import type { Peer } from "./peer.js";

/** Stops reading `source` until `link` drains. */
export function throttle(source: Peer, link: Peer): void {
  if (link.throttled.has(source)) return;
  link.throttled.add(source);
  source.pausedBy.add(link);
  if (source.pausedBy.size === 1) source.wire.pause();
}

/** The link drained (or closed): its senders read again unless another congested link holds them. */
export function release(link: Peer): void {
  for (const source of link.throttled) {
    source.pausedBy.delete(link);
    if (source.pausedBy.size === 0 && source.isOpen) {
      source.lastSeen = Date.now();
      source.wire.resume();
    }
  }
  link.throttled.clear();
}
