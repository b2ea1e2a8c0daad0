// What `treescale watch` says between applies: drift an agent found (and healed), and the errors its
// engine gave, as the agents announce them (`drift`, `apply.progress`). Pure: events in, lines out.
import type { DriftReport, ProgressReport } from "../model/wire.js";

export class DriftFeedback {
  readonly #stack: string | (() => string);
  /** Drift being healed, by node/stack/resource: the next successful action on it is the heal. */
  readonly #healing = new Set<string>();

  constructor(stack: string | (() => string)) {
    this.#stack = stack;
  }

  drift(report: DriftReport): string[] {
    if (report.stack !== this.#current()) return [];
    const where = `${report.resource} on node ${report.node}`;
    const what = report.differences.map((d) => `${d.action} ${d.target} (${d.reason})`).join("; ");
    const detected =
      report.detectionMs !== undefined ? `, seen ${report.detectionMs} ms after it happened` : "";
    if (report.healing) this.#healing.add(keyOf(report));
    const healing = report.healing
      ? report.healInMs !== undefined
        ? `healing in ${Math.round(report.healInMs / 1000)} s (crash loop)`
        : "healing"
      : "not healing (--no-heal)";
    return [`drift: ${where}: ${what}${detected}; ${healing}`];
  }

  progress(report: ProgressReport): string[] {
    if (report.stack !== this.#current()) return [];
    const key = keyOf(report);
    if (report.ok) {
      if (!this.#healing.delete(key)) return [];
      return [`healed: ${report.resource} on node ${report.node}: ${report.action} ${report.target}`];
    }
    const next = report.retrying ? "retrying" : "given up until the next apply";
    return [
      `error: ${report.resource} on node ${report.node}: ${report.action} ${report.target} failed: ${report.error ?? "unknown"}; ${next}`,
    ];
  }

  #current(): string {
    return typeof this.#stack === "string" ? this.#stack : this.#stack();
  }
}

const keyOf = (report: { node: string; stack: string; resource: string }) =>
  `${report.node}/${report.stack}/${report.resource}`;
