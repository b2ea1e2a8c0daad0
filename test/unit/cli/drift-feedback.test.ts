import { describe, expect, it } from "vitest";
import { DriftFeedback } from "../../../src/cli/drift-feedback.js";
import type { DriftReport, ProgressReport } from "../../../src/model/wire.js";

const drift: DriftReport = {
  node: "n1",
  stack: "shop",
  resource: "container/web",
  generation: 3,
  differences: [{ action: "start", target: "shop_web_2_n1", reason: "exited" }],
  detectedAt: "t",
  detectionMs: 12,
  healing: true,
};
const progress = (ok: boolean, extra: Partial<ProgressReport> = {}): ProgressReport => ({
  node: "n1",
  stack: "shop",
  generation: 3,
  resource: "container/web",
  target: "shop_web_2_n1",
  action: "start",
  ok,
  ...extra,
});

describe("watch's drift and error lines", () => {
  it("says the drift, then that it was healed, once", () => {
    const feedback = new DriftFeedback("shop");
    expect(feedback.drift(drift)).toEqual([
      "drift: container/web on node n1: start shop_web_2_n1 (exited), seen 12 ms after it happened; healing",
    ]);
    expect(feedback.progress(progress(true))).toEqual([
      "healed: container/web on node n1: start shop_web_2_n1",
    ]);
    expect(feedback.progress(progress(true))).toEqual([]);
  });

  it("says an engine error as it happens, and ignores other stacks", () => {
    const feedback = new DriftFeedback("shop");
    expect(feedback.progress(progress(false, { error: "no such image", retrying: true }))).toEqual([
      "error: container/web on node n1: start shop_web_2_n1 failed: no such image; retrying",
    ]);
    expect(feedback.drift({ ...drift, stack: "blog" })).toEqual([]);
  });
});
