import { describe, expect, it } from "vitest";
import { escapeLabel, family, Histogram } from "../../../src/util/prometheus.js";

describe("Prometheus text", () => {
  it("escapes backslash, double quote and newline in label values", () => {
    expect(escapeLabel('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(family("x_total", "help", "counter", [{ labels: { node: 'n"1' }, value: 3 }])).toBe(
      '# HELP x_total help\n# TYPE x_total counter\nx_total{node="n\\"1"} 3\n',
    );
  });

  it("a histogram's buckets are cumulative, end at +Inf, with _sum and _count", () => {
    const histogram = new Histogram([0.1, 1]);
    for (const value of [0.05, 0.5, 0.7, 3]) histogram.observe(value);
    expect(
      family("d_seconds", "h", "histogram", histogram.samples({ kind: "container" }))
        .split("\n")
        .slice(2),
    ).toEqual([
      'd_seconds_bucket{kind="container",le="0.1"} 1',
      'd_seconds_bucket{kind="container",le="1"} 3',
      'd_seconds_bucket{kind="container",le="+Inf"} 4',
      'd_seconds_sum{kind="container"} 4.25',
      'd_seconds_count{kind="container"} 4',
      "",
    ]);
  });
});
