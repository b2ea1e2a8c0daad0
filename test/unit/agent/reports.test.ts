import { describe, expect, it } from "vitest";
import { plannedReport, progressPublisher } from "../../../src/agent/reports.js";
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

  it("announces every planned action with its replica and changes, in the words its progress uses", () => {
    // Masked by the kind that planned it, as the CLI's plan prints it.
    const changes = ['~ env.MODE: "1" → "2"', "~ env.API_TOKEN: (sensitive)"];
    const replicated = (replica: number) => ({ ...action, replica });
    const planned = plannedReport(
      { node: "n1", stack: "shop", resource: "container/web", generation: 3 },
      [replicated(1), replicated(2), { ...action, kind: "balancer", type: "update" }],
      (a) => ({
        effect: "recreate",
        verb: a.type,
        target: `target-${(a as { replica?: number }).replica ?? "vip"}`,
        reason: "env changed",
        ...(a.type === "recreate"
          ? {
              changes: [
                { field: "env.MODE", from: "1", to: "2" },
                { field: "env.API_TOKEN", from: "a", to: "b", sensitive: true },
              ],
            }
          : {}),
      }),
      true,
    );
    expect(planned).toEqual({
      node: "n1",
      stack: "shop",
      resource: "container/web",
      generation: 3,
      drift: true,
      actions: [
        { action: "recreate", target: "target-1", reason: "env changed", replica: 1, changes },
        { action: "recreate", target: "target-2", reason: "env changed", replica: 2, changes },
        { action: "update", target: "target-vip", reason: "env changed" },
      ],
    });
  });

  it("names the replica a started and a finished action is for", () => {
    const seen: unknown[] = [];
    const sink = progressPublisher(
      { node: "n1", stack: "shop", generation: 3 },
      () => ({ effect: "create", verb: "create", target: "shop_web_2_n1", reason: "missing" }),
      (report) => seen.push(report),
      (start) => seen.push(start),
    );
    const replicated = { ...action, type: "create", replica: 2 };
    sink.started(replicated);
    sink.finished({ action: replicated, ok: true, ms: 1 });
    expect(seen).toEqual([
      {
        node: "n1",
        stack: "shop",
        generation: 3,
        resource: "container/web",
        target: "shop_web_2_n1",
        action: "create",
        replica: 2,
      },
      {
        node: "n1",
        stack: "shop",
        generation: 3,
        resource: "container/web",
        target: "shop_web_2_n1",
        action: "create",
        replica: 2,
        ok: true,
      },
    ]);
  });
});
