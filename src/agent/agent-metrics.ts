// What an operator watches of a node's agent, kept as it happens and rendered for /metrics: how long
// reconciles take per kind, how often drift was found, how actions ended, and the queue's depth.
import { family, Histogram, type Sample } from "../util/prometheus.js";

/** Reconcile durations in seconds: a no-op plan is milliseconds, a recreate with a pull minutes. */
const RECONCILE_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class AgentMetrics {
  readonly #reconciles = new Map<string, Histogram>();
  readonly #drift = new Map<string, number>();
  /** By kind, outcome (ok or failed) and the failure's stable code. */
  readonly #outcomes = new Map<string, { kind: string; outcome: string; code: string; count: number }>();

  reconciled(kind: string, seconds: number): void {
    let histogram = this.#reconciles.get(kind);
    if (!histogram) {
      histogram = new Histogram(RECONCILE_BOUNDS);
      this.#reconciles.set(kind, histogram);
    }
    histogram.observe(seconds);
  }

  drifted(kind: string): void {
    this.#drift.set(kind, (this.#drift.get(kind) ?? 0) + 1);
  }

  acted(kind: string, ok: boolean, code: string | undefined): void {
    const outcome = ok ? "ok" : "failed";
    const key = `${kind}\t${outcome}\t${code ?? ""}`;
    const entry = this.#outcomes.get(key) ?? { kind, outcome, code: code ?? "", count: 0 };
    entry.count++;
    this.#outcomes.set(key, entry);
  }

  render(node: string, queue: { queued: number; active: number }): string {
    const reconciles: Sample[] = [];
    for (const [kind, histogram] of this.#reconciles) reconciles.push(...histogram.samples({ node, kind }));
    return [
      family(
        "treescale_reconcile_duration_seconds",
        "Time of one reconcile of a resource, by kind",
        "histogram",
        reconciles,
      ),
      family("treescale_work_queue_depth", "Resources waiting for a reconcile", "gauge", [
        { labels: { node }, value: queue.queued },
      ]),
      family("treescale_work_queue_active", "Reconciles under way", "gauge", [
        { labels: { node }, value: queue.active },
      ]),
      family(
        "treescale_drift_total",
        "Changes nobody asked for, found on this node's objects",
        "counter",
        [...this.#drift].map(([kind, value]) => ({ labels: { node, kind }, value })),
      ),
      family(
        "treescale_actions_total",
        "Actions the agent carried out, by outcome and failure code",
        "counter",
        [...this.#outcomes.values()].map(({ kind, outcome, code, count }) => ({
          labels: { node, kind, outcome, code },
          value: count,
        })),
      ),
    ].join("");
  }
}
