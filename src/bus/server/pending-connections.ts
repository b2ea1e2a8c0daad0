// Connections that have not finished their handshake: counted per source address and in total, and each
// given a deadline. Until READY a connection has proved nothing, so nothing it sends (PINGs included)
// buys it more time, and one address cannot hold more than its share of the node's sockets.
import type { BusLimits } from "./limits.js";
import type { Peer } from "./peer.js";

type Limits = Pick<BusLimits, "handshakeTimeoutMs" | "pendingConnections" | "pendingPerAddress">;

export class PendingConnections {
  private readonly byAddress = new Map<string, number>();
  private readonly deadlines = new Map<Peer, ReturnType<typeof setTimeout>>();

  constructor(private readonly limits: Limits) {}

  /** Connections in their handshake now. */
  get size(): number {
    return this.deadlines.size;
  }

  /** Why a new connection from `address` is refused, or undefined when it may start its handshake. */
  refusal(address: string): string | undefined {
    if (this.deadlines.size >= this.limits.pendingConnections) {
      return `this node already holds ${this.limits.pendingConnections} connections that have not finished their handshake: retry later`;
    }
    if ((this.byAddress.get(address) ?? 0) >= this.limits.pendingPerAddress) {
      return `${address} already holds ${this.limits.pendingPerAddress} connections that have not finished their handshake: finish or close those first`;
    }
    return undefined;
  }

  /** Starts the handshake clock of an accepted connection; `expired` runs if it is not ready in time. */
  add(peer: Peer, expired: (peer: Peer, timeoutMs: number) => void): void {
    const address = peer.wire.address;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    const timer = setTimeout(
      () => expired(peer, this.limits.handshakeTimeoutMs),
      this.limits.handshakeTimeoutMs,
    );
    timer.unref();
    this.deadlines.set(peer, timer);
  }

  /** The connection became ready or closed. Idempotent. */
  remove(peer: Peer): void {
    const timer = this.deadlines.get(peer);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.deadlines.delete(peer);
    const address = peer.wire.address;
    const count = (this.byAddress.get(address) ?? 1) - 1;
    if (count > 0) this.byAddress.set(address, count);
    else this.byAddress.delete(address);
  }
}
