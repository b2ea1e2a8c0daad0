// Backoff for a resource whose containers keep stopping by themselves, as Kubernetes'
// CrashLoopBackOff: the first heal is immediate (a container removed by hand comes back at once);
// each further heal waits twice as long after the previous one (1 s, 2 s, 4 s … capped), and a
// resource that stays Ready for a while starts afresh.
import type { Clock } from "../util/clock.js";

export type CrashLoopOptions = {
  clock: Clock;
  baseMs?: number;
  maxMs?: number;
  /** Ready this long without a heal: the history is forgotten and the next heal is immediate again. */
  resetAfterMs?: number;
};

type History = { heals: number; lastHealAt: number; readySince?: number };

export class CrashLoopBackoff {
  readonly #clock: Clock;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #resetAfterMs: number;
  readonly #history = new Map<string, History>();

  constructor(options: CrashLoopOptions) {
    this.#clock = options.clock;
    this.#baseMs = options.baseMs ?? 1000;
    this.#maxMs = options.maxMs ?? 60_000;
    this.#resetAfterMs = options.resetAfterMs ?? 2 * this.#maxMs;
  }

  /** How long until the resource may be healed again; 0 when it may be healed now. */
  delay(resource: string): number {
    const history = this.#history.get(resource);
    if (!history) return 0;
    const now = this.#clock.now();
    if (history.readySince !== undefined && now - history.readySince >= this.#resetAfterMs) {
      this.#history.delete(resource);
      return 0;
    }
    const wait = Math.min(this.#maxMs, this.#baseMs * 2 ** (history.heals - 1));
    return Math.max(0, history.lastHealAt + wait - now);
  }

  /** Heals so far in this loop. */
  restarts(resource: string): number {
    return this.#history.get(resource)?.heals ?? 0;
  }

  healed(resource: string): void {
    const heals = (this.#history.get(resource)?.heals ?? 0) + 1;
    this.#history.set(resource, { heals, lastHealAt: this.#clock.now() });
  }

  /** The resource was seen Ready (or not): only an unbroken Ready stretch resets the history. */
  observed(resource: string, ready: boolean): void {
    const history = this.#history.get(resource);
    if (!history) return;
    if (!ready) delete history.readySince;
    else history.readySince ??= this.#clock.now();
  }

  /** A new slice changed the resource on purpose: its old crash history says nothing about it. */
  forget(resource: string): void {
    this.#history.delete(resource);
  }
}
