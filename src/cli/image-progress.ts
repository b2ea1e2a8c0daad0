// What `treescale image push` shows of each node's transfer while it runs: one line per node with its
// phase, bytes, rate and time left. On a terminal the lines are redrawn in place as the figures come;
// elsewhere (a pipe, a log) a line is written per node on each phase change and at most once a second.
import type { ImageProgress } from "../images/wire.js";

const ESC = "\x1b[";
/** A terminal is redrawn at most this often, however many nodes report. */
const REDRAW_MS = 200;

export interface ProgressView {
  show(progress: ImageProgress): void;
  /** Draws the last figures and stops redrawing. */
  finish(): void;
}

/** `web-2  receiving  81.2/209.7 MB  38.5 MB/s  ETA 3 s`. */
export function progressLine(progress: ImageProgress): string {
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const parts = [
    progress.node,
    progress.phase,
    progress.total > 0 ? `${mb(progress.bytes)}/${mb(progress.total)} MB` : `${mb(progress.bytes)} MB`,
    `${mb(progress.bytesPerSecond)} MB/s`,
  ];
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${progress.etaSeconds} s`);
  if (progress.resumedFrom > 0) parts.push(`resumed from chunk ${progress.resumedFrom}`);
  if (progress.error) parts.push(progress.error);
  return parts.join("  ");
}

/** Writes to a stream that is not a terminal: whole lines only, never redrawn. */
export class ProgressLines implements ProgressView {
  readonly #shownAt = new Map<string, number>();

  constructor(
    readonly image: string,
    readonly out: { write(text: string): unknown },
    readonly now: () => number = Date.now,
  ) {}

  show(progress: ImageProgress): void {
    if (progress.image !== this.image) return;
    const key = `${progress.node}\t${progress.phase}`;
    const now = this.now();
    if (progress.phase === "receiving" && now - (this.#shownAt.get(key) ?? 0) < 1000) return;
    if (progress.phase !== "receiving" && this.#shownAt.has(key)) return;
    this.#shownAt.set(key, now);
    this.out.write(`${progressLine(progress)}\n`);
  }

  finish(): void {}
}

/** A block of one line per node, in the order they first reported, redrawn in place on a terminal. */
export class LiveProgress implements ProgressView {
  readonly #lines = new Map<string, string>();
  readonly #phases = new Map<string, ImageProgress["phase"]>();
  /** Lines of the block on screen now: the cursor goes up this many to redraw it. */
  #drawn = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly image: string,
    readonly out: { write(text: string): unknown },
  ) {}

  show(progress: ImageProgress): void {
    if (progress.image !== this.image) return;
    const changedPhase = this.#phases.get(progress.node) !== progress.phase;
    this.#phases.set(progress.node, progress.phase);
    this.#lines.set(progress.node, progressLine(progress));
    // A new node or phase is drawn at once; figures that only moved wait for the next redraw.
    if (changedPhase) this.#draw();
    else this.#timer ??= setTimeout(() => this.#draw(), REDRAW_MS);
  }

  finish(): void {
    this.#draw();
  }

  #draw(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const up = this.#drawn > 0 ? `${ESC}${this.#drawn}A` : "";
    const block = [...this.#lines.values()].map((line) => `\r${ESC}2K${line}\n`).join("");
    this.#drawn = this.#lines.size;
    this.out.write(up + block);
  }
}
