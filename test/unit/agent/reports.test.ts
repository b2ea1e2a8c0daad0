import { describe, expect, it } from "vitest";
import { progressPublisher } from "../../../src/agent/reports.js";
import type { ProgressReport } from "../../../src/model/wire.js";
import type { Outcome, PlannedAction } from "../../../src/reconcile/controller.js";

const action: PlannedAction = { kind: "container", resource: "web", node: "n1", type: "recreate" };

function reportOf(outcome: Outcome): ProgressReport | undefined {
  let report: ProgressReport | undefined;
  progressPublisher(
    { node: "n1", stack: "shop", generation: 3 },
    () => ({ effect: "recreate", verb: "recreate", target: "shop_web_1_n1", reason: "env changed" }),
    (published) => {
      report = published;
    },
  ).finished(outcome);
  return report;
}

describe("agent — progress reports", () => {
  it("says a failure the agent will retry is retrying, and a terminal one or a stopped rollout is final", () => {
    const failed = (disposition?: "stalled" | "terminal" | "hold"): Outcome => ({
      action,
      ok: false,
      error: 'name "shop_web_1_n1" is taken',
      ...(disposition ? { disposition } : {}),
      ms: 5,
    });
    expect(reportOf(failed())).toMatchObject({ ok: false, retrying: true, resource: "container/web" });
    expect(reportOf(failed("stalled"))).toMatchObject({ retrying: true });
    expect(reportOf(failed("terminal"))).toMatchObject({ retrying: false });
    expect(reportOf(failed("hold"))).toMatchObject({ retrying: false });
    expect(reportOf({ action, ok: true, ms: 5 })).not.toHaveProperty("retrying");
  });
});
