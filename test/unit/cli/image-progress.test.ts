import { describe, expect, it } from "vitest";
import { LiveProgress, ProgressLines, progressLine } from "../../../src/cli/image-progress.js";
import type { ImageProgress } from "../../../src/images/wire.js";

const IMAGE = "sha256:abc";
const at = (node: string, phase: ImageProgress["phase"], bytes: number, more: Partial<ImageProgress> = {}) =>
  ({
    image: IMAGE,
    reference: "app:1",
    node,
    phase,
    bytes,
    total: 200e6,
    bytesPerSecond: 40e6,
    resumedFrom: 0,
    ...more,
  }) satisfies ImageProgress;

function recorder() {
  const written: string[] = [];
  return { written, out: { write: (text: string) => written.push(text) } };
}

describe("image push progress", () => {
  it("a node's line says phase, bytes, rate, time left and where it resumed", () => {
    expect(progressLine(at("web-2", "receiving", 81.2e6, { etaSeconds: 3, resumedFrom: 12 }))).toBe(
      "web-2  receiving  81.2/200.0 MB  40.0 MB/s  ETA 3 s  resumed from chunk 12",
    );
  });

  it("on a terminal, redraws one line per node in place: the cursor goes back up over the block", async () => {
    const { written, out } = recorder();
    const view = new LiveProgress(IMAGE, out);
    view.show(at("a", "receiving", 1e6));
    view.show(at("b", "receiving", 2e6));
    view.show(at("a", "receiving", 5e6));
    view.show({ ...at("c", "receiving", 1e6), image: "sha256:other" });
    expect(written).toEqual([
      "\r\x1b[2Ka  receiving  1.0/200.0 MB  40.0 MB/s\n",
      "\x1b[1A\r\x1b[2Ka  receiving  1.0/200.0 MB  40.0 MB/s\n\r\x1b[2Kb  receiving  2.0/200.0 MB  40.0 MB/s\n",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(written).toHaveLength(3);
    expect(written[2]).toBe(
      "\x1b[2A\r\x1b[2Ka  receiving  5.0/200.0 MB  40.0 MB/s\n\r\x1b[2Kb  receiving  2.0/200.0 MB  40.0 MB/s\n",
    );
    view.show(at("a", "loaded", 200e6));
    expect(written[3]).toContain("a  loaded  200.0/200.0 MB");
    view.finish();
    expect(written).toHaveLength(5);
  });

  it("elsewhere, writes whole lines: each phase once, receiving at most once a second per node", () => {
    const { written, out } = recorder();
    let now = 0;
    const view = new ProgressLines(IMAGE, out, () => now);
    now = 5000;
    view.show(at("a", "receiving", 1e6));
    now = 5500;
    view.show(at("a", "receiving", 2e6));
    now = 6100;
    view.show(at("a", "receiving", 3e6));
    view.show(at("a", "loaded", 200e6));
    view.show(at("a", "loaded", 200e6));
    expect(written.map((line) => line.split("  ").slice(0, 3).join(" "))).toEqual([
      "a receiving 1.0/200.0 MB",
      "a receiving 3.0/200.0 MB",
      "a loaded 200.0/200.0 MB",
    ]);
  });
});
