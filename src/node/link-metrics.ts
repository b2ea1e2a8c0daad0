// The links to this node's children for /metrics: which are up, how often they went down, and how long
// each failure took to detect (from the last frame heard to the link declared down).
import { family, Histogram, type Sample } from "../util/prometheus.js";

/** Detection in seconds: heartbeats are a second apart by default, three missed ones drop a link. */
const DETECTION_BOUNDS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30];

export class LinkMetrics {
  readonly #up = new Map<string, boolean>();
  readonly #downs = new Map<string, number>();
  readonly #detection = new Histogram(DETECTION_BOUNDS);
  #lastDetectionSeconds: number | undefined;

  linked(child: string): void {
    this.#up.set(child, true);
  }

  /** `detectionMs`: as node.down reports it. */
  down(child: string, detectionMs: number | undefined): void {
    this.#up.set(child, false);
    this.#downs.set(child, (this.#downs.get(child) ?? 0) + 1);
    if (detectionMs === undefined) return;
    this.#detection.observe(detectionMs / 1000);
    this.#lastDetectionSeconds = detectionMs / 1000;
  }

  /** A child that moved under another node is no longer this node's to watch. */
  moved(child: string): void {
    this.#up.delete(child);
  }

  render(node: string): string {
    const up: Sample[] = [...this.#up].map(([child, linked]) => ({
      labels: { node, child },
      value: linked ? 1 : 0,
    }));
    const downs: Sample[] = [...this.#downs].map(([child, count]) => ({
      labels: { node, child },
      value: count,
    }));
    return [
      family(
        "treescale_child_link_up",
        "1 while the child node's link is up, 0 after it went down",
        "gauge",
        up,
      ),
      family("treescale_child_link_down_total", "Times the child node's link went down", "counter", downs),
      family(
        "treescale_link_failure_detection_seconds",
        "From the last frame heard from a child to its link declared down",
        "histogram",
        this.#detection.samples({ node }),
      ),
      family(
        "treescale_link_last_failure_detection_seconds",
        "Detection time of the latest child link failure",
        "gauge",
        this.#lastDetectionSeconds === undefined
          ? []
          : [{ labels: { node }, value: this.#lastDetectionSeconds }],
      ),
    ].join("");
  }
}
