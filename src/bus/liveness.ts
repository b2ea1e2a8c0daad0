// Silence of a link measured in the detector's own awake time. A heartbeat check that runs late (this
// process was starved of CPU, or its event loop was busy) credits at most two ticks for the gap: while a
// process stalls, the frames its peers sent sit unread in the kernel, and on wake-up timers run before
// I/O. Counting wall time would blame the peers for our own stall and drop healthy links.

/** One per process side (node or client): how much awake time each heartbeat tick stands for. */
export class AwakeClock {
  private last: number;

  constructor(
    private readonly tickMs: number,
    now: number,
  ) {
    this.last = now;
  }

  /** Call once per tick: the real gap since the previous tick, capped at two ticks. */
  advance(now: number): number {
    const gap = Math.max(0, now - this.last);
    this.last = now;
    return Math.min(gap, 2 * this.tickMs);
  }
}

/** One per link: silence so far, in wall time while we are on schedule, in awake credit across stalls. */
export class SilenceMeter {
  private silentMs = 0;
  private checkedAt: number;

  constructor(now: number) {
    this.checkedAt = now;
  }

  /** `lastSeen` is when the peer was last heard from; `credit` comes from AwakeClock.advance. */
  measure(lastSeen: number, now: number, credit: number): number {
    // Heard since the previous check: silent since then, but never for more than this tick's credit.
    this.silentMs = lastSeen >= this.checkedAt ? Math.min(now - lastSeen, credit) : this.silentMs + credit;
    this.checkedAt = now;
    return this.silentMs;
  }
}
