// Prometheus text exposition (version 0.0.4) for the node's /metrics: label escaping, families of
// samples, and a histogram. Hand-written rather than prom-client: a node renders a few dozen families
// from state it already keeps, and prom-client's global registry and collectors would add a
// dependency and a second copy of that state.

export type Labels = Readonly<Record<string, string | number>>;

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(String(value))}"`);
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
}

export type Sample = { labels: Labels; value: number; suffix?: string };

/** One metric family: its HELP and TYPE lines, then one line per sample. */
export function family(
  name: string,
  help: string,
  type: "counter" | "gauge" | "histogram",
  samples: readonly Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const sample of samples)
    lines.push(`${name}${sample.suffix ?? ""}${formatLabels(sample.labels)} ${sample.value}`);
  return `${lines.join("\n")}\n`;
}

/** Observations counted into fixed buckets (upper bounds in seconds, ascending), as Prometheus keeps them. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index >= 0) this.#counts[index]!++;
  }

  /** The family's samples: cumulative buckets up to +Inf, then _sum and _count. */
  samples(labels: Labels): Sample[] {
    const samples: Sample[] = [];
    let cumulative = 0;
    for (const [index, bound] of this.bounds.entries()) {
      cumulative += this.#counts[index]!;
      samples.push({ labels: { ...labels, le: String(bound) }, value: cumulative, suffix: "_bucket" });
    }
    samples.push({ labels: { ...labels, le: "+Inf" }, value: this.#count, suffix: "_bucket" });
    samples.push({ labels, value: this.#sum, suffix: "_sum" });
    samples.push({ labels, value: this.#count, suffix: "_count" });
    return samples;
  }
}
