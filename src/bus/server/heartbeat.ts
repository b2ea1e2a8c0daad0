// Liveness of every connection under one timer: ping the quiet ones, drop the silent ones after three
// missed beats. Silence is counted in this process's awake time, so that its own stalls drop no peer.
import { AwakeClock } from "../liveness.js";
import { ErrorCode, encodeControl, FrameType } from "../protocol/index.js";
import { release } from "./back-pressure.js";
import type { Peer } from "./peer.js";

export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly peers: ReadonlyMap<number, Peer>,
    private readonly heartbeatMs: number,
    private readonly maxPendingBytes: number,
  ) {}

  start(): void {
    const tick = Math.max(5, Math.floor(this.heartbeatMs / 4));
    const clock = new AwakeClock(tick, Date.now());
    this.timer = setInterval(() => this.check(clock.advance(Date.now())), tick);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** `credit`: awake time since the last check, so that a stall of this process never drops its peers. */
  private check(credit: number): void {
    const now = Date.now();
    const ping = encodeControl(FrameType.ping);
    for (const peer of this.peers.values()) {
      // An auth check in flight is bounded by its own (hook) timeout, not by the client's heartbeats.
      if (peer.state === "closed" || peer.state === "authenticating") continue;
      // Safety net for back-pressure: never leave senders paused behind a link that has drained.
      if (peer.throttled.size > 0 && peer.pendingBytes() <= this.maxPendingBytes / 2) release(peer);
      // A sender we stopped reading (back-pressure) is not silent; its frames wait in the kernel.
      if (peer.pausedBy.size > 0) continue;
      if (peer.silence.measure(peer.lastSeen, now, credit) > 3 * this.heartbeatMs) {
        peer.fail(ErrorCode.heartbeatTimeout, `no frame for ${now - peer.lastSeen} ms (3 heartbeats)`);
        // A stopped process never reads the error: do not wait for its FIN.
        peer.destroy(ErrorCode.heartbeatTimeout, "heartbeat timeout");
      } else if (now - peer.lastSent >= this.heartbeatMs) {
        peer.send(ping);
      }
    }
  }
}
