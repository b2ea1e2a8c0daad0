// Where each request routed by this node went, so that a REPLY is taken only from a connection its
// request was delivered to. A reply names its requester (origin node, connection, request id) in the
// clear; without this, anyone holding a token could answer — or fake "no responders" to — requests that
// were never theirs. Entries live as long as a request may still be answered, within a bounded count.
import type { RouteHeader } from "../protocol/index.js";

interface Route<Hop> {
  hops: readonly Hop[];
  expiresAt: number;
}

export interface ReplyRoutesOptions {
  /** How long replies to a request are accepted after it passed this node. */
  ttlMs: number;
  /** Requests remembered at most; beyond it the oldest are forgotten (their late replies dropped). */
  maxRequests: number;
  now?: () => number;
}

function keyOf(header: RouteHeader, origin: string): string {
  return `${origin}\t${header.replyTo}\t${header.id}`;
}

export class ReplyRoutes<Hop> {
  private readonly routes = new Map<string, Route<Hop>>();
  private readonly now: () => number;

  constructor(private readonly options: ReplyRoutesOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A REQUEST (header as routed) was delivered to `hops`. */
  record(request: RouteHeader, hops: readonly Hop[]): void {
    if (hops.length === 0) return;
    const now = this.now();
    this.expire(now);
    const key = keyOf(request, request.origin);
    // Re-inserted at the end: Map order is then the order of expiry.
    this.routes.delete(key);
    this.routes.set(key, { hops, expiresAt: now + this.options.ttlMs });
  }

  /** Whether a REPLY (whose `node` is its request's origin) may come from `hop`. */
  allows(reply: RouteHeader, hop: Hop): boolean {
    const route = this.routes.get(keyOf(reply, reply.node));
    return route !== undefined && route.expiresAt > this.now() && route.hops.includes(hop);
  }

  get size(): number {
    return this.routes.size;
  }

  private expire(now: number): void {
    for (const [key, route] of this.routes) {
      if (route.expiresAt > now && this.routes.size < this.options.maxRequests) return;
      this.routes.delete(key);
    }
  }
}
