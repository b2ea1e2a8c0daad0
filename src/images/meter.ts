// Rate and time left of one node's transfer, from the bytes it confirmed and when: what the terminal
// and the dashboard show per node. Pure: the caller passes the clock's readings.

/** The rate is measured over this much recent time, so a stall shows within seconds. */
const WINDOW_MS = 5000;

export class TransferMeter {
  readonly #samples: { at: number; bytes: number }[] = [];

  constructor(
    readonly total: number,
    startedAt: number,
    startBytes = 0,
  ) {
    this.#samples.push({ at: startedAt, bytes: startBytes });
  }

  record(at: number, bytes: number): void {
    this.#samples.push({ at, bytes });
    while (this.#samples.length > 2 && at - this.#samples[1]!.at > WINDOW_MS) this.#samples.shift();
  }

  get bytes(): number {
    return this.#samples[this.#samples.length - 1]!.bytes;
  }

  /** Bytes per second over the recent window (0 before two readings apart in time). */
  get bytesPerSecond(): number {
    const first = this.#samples[0]!;
    const last = this.#samples[this.#samples.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    return seconds > 0 ? (last.bytes - first.bytes) / seconds : 0;
  }

  /** Seconds left at the current rate; undefined without a total or a rate. */
  get etaSeconds(): number | undefined {
    const rate = this.bytesPerSecond;
    if (this.total <= 0 || rate <= 0) return undefined;
    return Math.max(0, (this.total - this.bytes) / rate);
  }
}
