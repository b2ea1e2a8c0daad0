// The applies view's reading of the agents' events: a plan's actions move from not started to under
// way to their outcome, each attempt is its own step, and a node's share ends settled, failed or stalled.
import { describe, expect, it } from "vitest";
import type { ApplyPlanned, ProgressReport, StatusAnnouncement } from "../../../src/model/wire.js";
import {
  type ApplyRecord,
  MAX_STEPS,
  newApply,
  verdict,
  withOutcome,
  withPlan,
  withStart,
  withStatus,
} from "../../../src/web/applies.js";
import { byApply, countsLine, stepOutcome } from "../../../src/web/views/events-view.js";

const at = { node: "n1", stack: "shop", generation: 2 };
const resource = "container/web";
const plan = (drift = false): ApplyPlanned => ({
  ...at,
  resource,
  drift,
  actions: [
    {
      action: "recreate",
      target: "shop_web_1_n1",
      reason: "env.MODE changed",
      replica: 1,
      changes: ['~ env.MODE: "1" → "2"'],
    },
    { action: "recreate", target: "shop_web_2_n1", reason: "env.MODE changed", replica: 2 },
  ],
});
const step = (replica: number) => ({
  ...at,
  resource,
  action: "recreate",
  target: `shop_web_${replica}_n1`,
  replica,
});
const done = (replica: number, ok = true, extra: Partial<ProgressReport> = {}): ProgressReport => ({
  ...step(replica),
  ok,
  ...extra,
});
const status = (condition: string, settled: boolean, reason = "Converged"): StatusAnnouncement => ({
  ...at,
  settled,
  status: {
    stack: "shop",
    resource,
    node: "n1",
    condition,
    reason,
    message: condition === "Ready" ? "" : "wave 1 failed",
    observedGeneration: 2,
    desired: 2,
    ready: 2,
    since: "2026-11-29T00:00:00.000Z",
  } as StatusAnnouncement["status"],
});

describe("applies — folding the agents' events", () => {
  it("shows the whole plan before anything starts, then each action under way and done", () => {
    let record = withPlan(newApply("n1", "shop", 2, 0), plan(), 10);
    expect(record.steps.map((s) => [s.target, s.replica, s.state])).toEqual([
      ["shop_web_1_n1", 1, "planned"],
      ["shop_web_2_n1", 2, "planned"],
    ]);
    expect(record.steps[0]!.changes).toEqual(['~ env.MODE: "1" → "2"']);
    expect(verdict(record)).toBe("in progress");
    record = withStart(record, step(1), 100);
    expect(record.steps.map((s) => s.state)).toEqual(["running", "planned"]);
    record = withOutcome(record, done(1), 350);
    expect(record.steps[0]).toMatchObject({ state: "done", startedAt: 100, endedAt: 350 });
    expect(stepOutcome(record.steps[0]!)).toBe("done in 250 ms");
    expect(stepOutcome(record.steps[1]!)).toBe("not started");
    expect(countsLine(record.steps)).toBe("1 not started · 1 done");
    record = withOutcome(withStart(record, step(2), 400), done(2), 500);
    expect(verdict(record)).toBe("in progress");
    record = withStatus(record, status("Ready", true), 600);
    expect(verdict(record)).toBe("settled");
    expect(record.outcomes[resource]).toEqual({ condition: "Ready", reason: "Converged", message: "" });
  });

  it("says a failure, a retry as a new step, and a stalled resource", () => {
    let record = withPlan(newApply("n1", "shop", 2, 0), plan(), 0);
    record = withOutcome(withStart(record, step(1), 1), done(1, false, { error: "boom", retrying: true }), 2);
    expect(stepOutcome(record.steps[0]!)).toBe("failed, retrying in 1 ms: boom");
    // The node tries again: a new plan, a new step; the failed attempt stays as it ended.
    record = withPlan(record, { ...plan(), actions: plan().actions.slice(0, 1) }, 3);
    record = withStart(record, step(1), 4);
    expect(record.steps.map((s) => s.state)).toEqual(["retrying", "planned", "running"]);
    record = withOutcome(record, done(1, false, { error: "no such image", retrying: false }), 5);
    expect(record.steps[2]).toMatchObject({ state: "failed", error: "no such image" });
    record = withStatus(record, status("Stalled", true, "ImageUnavailable"), 6);
    // The second replica's action never started: the share is not over until the node says so.
    expect(verdict(record)).toBe("in progress");
    record = { ...record, steps: record.steps.filter((s) => s.replica === 1) };
    expect(verdict(record)).toBe("stalled");
    expect(verdict(withStatus(record, status("Ready", true), 7))).toBe("failed");
  });

  it("keeps actions it saw no plan for (a page opened mid-apply, a node of an older version)", () => {
    let record = withStart(newApply("n1", "shop", 2, 0), step(2), 1);
    record = withOutcome(record, done(2), 2);
    record = withOutcome(record, done(1), 3);
    expect(record.steps.map((s) => [s.target, s.state, s.startedAt])).toEqual([
      ["shop_web_2_n1", "done", 1],
      ["shop_web_1_n1", "done", undefined],
    ]);
    expect(stepOutcome(record.steps[1]!)).toBe("done");
  });

  it("marks heals and keeps a record bounded however long a node heals", () => {
    let record: ApplyRecord = newApply("n1", "shop", 2, 0);
    for (let i = 0; i < MAX_STEPS; i++) record = withPlan(record, plan(true), i);
    expect(record.steps).toHaveLength(MAX_STEPS);
    expect(record.dropped).toBe(MAX_STEPS);
    expect(record.steps.every((s) => s.drift)).toBe(true);
  });

  it("groups one apply's nodes together, newest apply first", () => {
    const a = newApply("n2", "shop", 3, 5);
    const b = newApply("n1", "shop", 3, 4);
    const c = newApply("n1", "shop", 2, 1);
    expect(byApply([a, b, c]).map((g) => [g.key, g.records.map((r) => r.node)])).toEqual([
      ["shop/3", ["n1", "n2"]],
      ["shop/2", ["n1"]],
    ]);
  });
});
