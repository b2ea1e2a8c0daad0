// Loading grows linearly with the number of resources, in every language: a lookup per resource that
// scans its whole table (issue #10) made 40,000 YAML containers take 44 s.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifests } from "../../../src/manifest/index.js";
import type { Language } from "../../../src/manifest/parse.js";
import { writeTree } from "./support.js";

const SMALL = 2_500;
const LARGE = 20_000;
/**
 * Twice linear for 8 times the containers: 6.5–10 measured (garbage collection grows with the heap);
 * the quadratic loader measured 23 (JSON) and 62 (YAML). Bodies are one field each so the
 * per-container parse, which is linear, does not drown a per-container lookup that is not.
 */
const MAX_RATIO = 16;
/** For all the timed loads (2 large, 4 small): ~2.5 s for YAML on a busy machine; ~40 s when quadratic. */
const MAX_WALL_MS = 20_000;

function containersText(language: Language, count: number): string {
  const lines: string[] = [];
  for (let index = 0; index < count; index++) {
    if (language === "toml") lines.push(`[containers.c${index}]`, 'image = "local/busybox:1"');
    else if (language === "yaml") lines.push(`  c${index}:`, "    image: local/busybox:1");
    else lines.push(`  "c${index}": {\n    "image": "local/busybox:1"\n  }`);
  }
  if (language === "toml") return lines.join("\n");
  if (language === "yaml") return `containers:\n${lines.join("\n")}\n`;
  return `{"containers": {\n${lines.join(",\n")}\n}}\n`;
}

/**
 * CPU time of one load, in ms: unlike wall time it hardly grows when other programs share the CPUs.
 * vitest runs each test file in a process of its own, so the process's CPU time is this load's.
 */
async function timeLoad(file: string, count: number): Promise<number> {
  const started = process.cpuUsage();
  const result = await loadManifests([file]);
  const used = process.cpuUsage(started);
  expect(result.issues).toEqual([]);
  expect(Object.keys(result.desired.containers)).toHaveLength(count);
  return (used.user + used.system) / 1000;
}

describe("load time", () => {
  it.each(["toml", "json", "yaml"] as const)("grows linearly with the containers in %s", async (language) => {
    const dir = await writeTree({
      [`small.${language}`]: containersText(language, SMALL),
      [`large.${language}`]: containersText(language, LARGE),
    });
    const small = join(dir, `small.${language}`);
    const large = join(dir, `large.${language}`);
    // Warm up (module loading, JIT), then alternate the sizes so a busy spell on the machine slows
    // both; the fastest run of each is the one least disturbed.
    for (let run = 0; run < 2; run++) await timeLoad(small, SMALL);
    let smallMs = Number.POSITIVE_INFINITY;
    let largeMs = Number.POSITIVE_INFINITY;
    const started = performance.now();
    for (let round = 0; round < 2; round++) {
      for (let run = 0; run < 2; run++) smallMs = Math.min(smallMs, await timeLoad(small, SMALL));
      largeMs = Math.min(largeMs, await timeLoad(large, LARGE));
    }
    const wallMs = performance.now() - started;
    const report = `${language}: ${SMALL} in ${Math.round(smallMs)} ms, ${LARGE} in ${Math.round(largeMs)} ms of CPU`;
    expect(largeMs / smallMs, report).toBeLessThan(MAX_RATIO);
    expect(wallMs, `${report}; all the timed loads took ${Math.round(wallMs)} ms`).toBeLessThan(MAX_WALL_MS);
  });
});
