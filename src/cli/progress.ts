// Progress while applying: a live status line on a terminal, one plain line per finished
// action otherwise (CI logs, pipes), so both people and log readers can follow along.
import type { ActionOutcome, ProgressSink } from "../../controllers/container.js";
import type { PullProgress } from "../drivers/engine.js";
import type { ContainerAction } from "../plan/actions.js";

const PAST: Record<ContainerAction["type"], string> = {
  create: "created",
  recreate: "recreated",
  remove: "removed",
  start: "started",
};

export function describeOutcome(outcome: ActionOutcome): string {
  const { action } = outcome;
  const seconds = (outcome.ms / 1000).toFixed(1);
  return outcome.ok
    ? `${action.name}: ${PAST[action.type]} (${seconds}s)`
    : `${action.name}: ${action.type} FAILED: ${outcome.error}`;
}

export function createProgress(stream: NodeJS.WriteStream, total: number): ProgressSink & { close(): void } {
  return stream.isTTY ? new LiveProgress(stream, total) : new LineProgress(stream);
}

class LineProgress implements ProgressSink {
  readonly #stream: NodeJS.WritableStream;
  readonly #pullsReported = new Set<string>();
  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
  }
  started(): void {}
  finished(outcome: ActionOutcome): void {
    this.#stream.write(`${describeOutcome(outcome)}\n`);
  }
  pulling(progress: PullProgress): void {
    if (this.#pullsReported.has(progress.image)) return;
    this.#pullsReported.add(progress.image);
    this.#stream.write(`pulling ${progress.image}…\n`);
  }
  close(): void {}
}

class LiveProgress implements ProgressSink {
  readonly #stream: NodeJS.WriteStream;
  readonly #total: number;
  readonly #running = new Set<string>();
  #done = 0;
  #pull = "";

  constructor(stream: NodeJS.WriteStream, total: number) {
    this.#stream = stream;
    this.#total = total;
  }

  started(action: ContainerAction): void {
    this.#running.add(`${action.type} ${action.name}`);
    this.#redraw();
  }

  finished(outcome: ActionOutcome): void {
    this.#running.delete(`${outcome.action.type} ${outcome.action.name}`);
    this.#done += 1;
    this.#clear();
    this.#stream.write(`${outcome.ok ? "✓" : "✗"} ${describeOutcome(outcome)}\n`);
    this.#redraw();
  }

  pulling(progress: PullProgress): void {
    const amount = progress.total ? ` ${Math.round(((progress.current ?? 0) / progress.total) * 100)}%` : "";
    this.#pull = `pulling ${progress.image}: ${progress.status}${amount}`;
    this.#redraw();
  }

  close(): void {
    this.#clear();
  }

  #clear(): void {
    this.#stream.write("\r\x1b[2K");
  }

  #redraw(): void {
    const width = this.#stream.columns ?? 80;
    const running = [...this.#running].slice(0, 3).join(", ");
    const more = this.#running.size > 3 ? ` +${this.#running.size - 3}` : "";
    const line =
      this.#pull && this.#running.size === 0
        ? this.#pull
        : `[${this.#done}/${this.#total}] ${running}${more}`;
    this.#clear();
    this.#stream.write(line.slice(0, width - 1));
  }
}
