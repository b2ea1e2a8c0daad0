import { describe, expect, it } from "vitest";
import type { FleetPlan } from "../../../src/fleet/fleet-plan.js";
import { interruption, renderInterruption } from "../../../src/fleet/interruption.js";
import type { PlannedAction } from "../../../src/reconcile/controller.js";

const action = (replica: number): PlannedAction => ({
  kind: "container",
  resource: `web-${replica}`,
  node: "n1",
  type: "create",
});
const registry = {
  describe: (a: PlannedAction) => ({
    effect: "create" as const,
    verb: "create",
    target: a.resource,
    reason: "new",
  }),
};
const plan = {
  stack: "app",
  generation: 2,
  nodes: [{ node: "n1", reachable: true, undeclared: false, actions: [1, 2, 3, 4].map(action) }],
} as unknown as FleetPlan;
const at = { node: "n1", stack: "app", generation: 2, resource: "container/web", action: "create" };

describe("interruption", () => {
  it("tells done, failed, under way and not started apart; the last report of an action wins", () => {
    const nodes = interruption(plan, registry, {
      actions: [
        { ...at, target: "web-1", ok: true },
        { ...at, target: "web-2", ok: false, error: "name taken", retrying: true },
        { ...at, target: "web-2", ok: true },
        { ...at, target: "web-3", ok: false, error: "cancelled" },
      ],
      started: ["web-1", "web-2", "web-3"].map((target) => ({ ...at, target })),
      nodes: [
        {
          node: "n1",
          result: "interrupted",
          message: "accepted generation 2; its agent carries on converging it",
          stalled: [],
        },
      ],
    });
    expect(nodes[0]!.actions.map((a) => [a.target, a.state])).toEqual([
      ["web-1", "done"],
      ["web-2", "done"],
      ["web-3", "failed"],
      ["web-4", "not-started"],
    ]);
    const text = renderInterruption(nodes, plan, { embedded: false });
    expect(text).toContain("node n1: accepted generation 2; its agent carries on converging it");
    expect(text).toContain("✗ create web-3: FAILED: cancelled");
    expect(text).toContain("2 done, 1 failed, 0 under way, 1 not started");
    expect(text).toContain("Follow them with `treescale get status -w` or `treescale events`.");
  });

  it("an action begun without an end is under way", () => {
    const nodes = interruption(plan, registry, {
      actions: [],
      started: [{ ...at, target: "web-1" }],
      nodes: [],
    });
    expect(nodes[0]!.actions[0]).toEqual({ action: "create", target: "web-1", state: "under-way" });
    expect(renderInterruption(nodes, plan, { embedded: true, stopped: false })).toContain(
      "did not finish stopping in time; the actions shown under way may have left their object half made",
    );
  });
});
