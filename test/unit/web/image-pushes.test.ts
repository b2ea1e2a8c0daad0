// The images view's reading of image.progress: the last report per node of each image, newest push
// first, a share of the total, and a node that stops reporting mid-transfer said so.
import { describe, expect, it } from "vitest";
import type { ImageProgress } from "../../../src/model/image-progress.js";
import {
  eta,
  fraction,
  MAX_PUSHES,
  SILENT_MS,
  silence,
  withImageProgress,
} from "../../../src/web/image-pushes.js";

const report = (node: string, extra: Partial<ImageProgress> = {}): ImageProgress => ({
  image: "sha256:aaa",
  reference: "app:1",
  node,
  phase: "receiving",
  bytes: 10,
  total: 40,
  bytesPerSecond: 5,
  etaSeconds: 6,
  resumedFrom: 0,
  ...extra,
});

describe("image pushes — folding image.progress", () => {
  it("keeps each node's last report of an image, nodes in name order", () => {
    let pushes = withImageProgress([], report("n2"), 1);
    pushes = withImageProgress(pushes, report("n1"), 2);
    pushes = withImageProgress(pushes, report("n2", { bytes: 30, etaSeconds: 2 }), 3);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.nodes.map((n) => [n.node, n.bytes, n.heardAt])).toEqual([
      ["n1", 10, 2],
      ["n2", 30, 3],
    ]);
    expect(fraction(pushes[0]!.nodes[1]!)).toBe(0.75);
    expect(fraction({ ...pushes[0]!.nodes[0]!, total: 0 })).toBeUndefined();
    expect(fraction({ ...pushes[0]!.nodes[0]!, phase: "loading" })).toBe(1);
  });

  it("puts the newest push first and keeps a bounded number", () => {
    let pushes = withImageProgress([], report("n1"), 1);
    for (let i = 0; i < MAX_PUSHES + 2; i++)
      pushes = withImageProgress(pushes, report("n1", { image: `sha256:${i}` }), i + 2);
    expect(pushes).toHaveLength(MAX_PUSHES);
    expect(pushes[0]!.image).toBe(`sha256:${MAX_PUSHES + 1}`);
    expect(pushes.some((p) => p.image === "sha256:aaa")).toBe(false);
  });

  it("says a node silent mid-transfer, not one that finished", () => {
    const [push] = withImageProgress([], report("n1"), 1000);
    const transfer = push!.nodes[0]!;
    expect(silence(transfer, 1000 + SILENT_MS)).toBeUndefined();
    expect(silence(transfer, 8000)).toBe("no report for 7 s");
    expect(silence({ ...transfer, phase: "loaded" }, 60_000)).toBeUndefined();
    expect([eta(undefined), eta(42), eta(75)]).toEqual(["–", "42 s", "1 min 15 s"]);
  });
});
