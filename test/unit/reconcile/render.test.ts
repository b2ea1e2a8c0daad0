import { describe, expect, it } from "vitest";
import type { ActionLine } from "../../../src/reconcile/controller.js";
import { actionLines, countEffects, noteLines, summaryLine } from "../../../src/reconcile/render.js";

const line = (effect: ActionLine["effect"], verb: string, target: string, reason: string): ActionLine => ({
  effect,
  verb,
  target,
  reason,
});

describe("plan rendering, whatever the kinds", () => {
  it("aligns targets to the longest one, at least eight wide, with each effect's symbol", () => {
    expect(
      actionLines([
        line("create", "create", "a", "new"),
        line("recreate", "recreate", "b", "image changed"),
        line("update", "move", "link c", "new parent"),
        line("remove", "remove", "d", "left the manifests"),
        line("start", "start", "e", "container is exited"),
      ]),
    ).toEqual([
      "  + create   a         new",
      "  ~ recreate b         image changed",
      "  ~ move     link c    new parent",
      "  - remove   d         left the manifests",
      "  > start    e         container is exited",
    ]);
    expect(actionLines([line("create", "create", "shop_web_1_node-a", "new")], "    ")).toEqual([
      "    + create   shop_web_1_node-a  new",
    ]);
  });

  it("prints an action's changed fields under it: changed, added, removed, sensitive", () => {
    const recreate = {
      ...line("recreate", "recreate", "web_1", "env, image changed"),
      changes: [
        { field: "env.MODE", from: "a", to: "b" },
        { field: "env.NEW", from: undefined, to: "x" },
        { field: "env.OLD", from: "y", to: undefined },
        { field: "env.DB_PASSWORD", from: "(sensitive)", to: "(sensitive)", sensitive: true },
        { field: "env.API_TOKEN", from: undefined, to: "(sensitive)", sensitive: true },
        { field: "command", from: ["sh"], to: ["sh", "-c", "true"] },
      ],
    };
    expect(actionLines([recreate, line("create", "create", "web_2", "new")])).toEqual([
      "  ~ recreate web_1     env, image changed",
      '      ~ env.MODE: "a" → "b"',
      '      + env.NEW: "x"',
      '      - env.OLD: "y"',
      "      ~ env.DB_PASSWORD: (sensitive)",
      "      + env.API_TOKEN: (sensitive)",
      '      ~ command: ["sh"] → ["sh","-c","true"]',
      "  + create   web_2     new",
    ]);
  });

  it("prints notes with their verb, target and reason", () => {
    expect(
      noteLines([
        {
          kind: "node-link",
          node: "c",
          resource: "c",
          verb: "pending",
          target: "c → b",
          reason: "c is down",
        },
      ]),
    ).toEqual(["  ! pending  c → b  c is down"]);
  });

  it("counts lines by effect and mentions starts and changes only when there are some", () => {
    const counts = countEffects([
      line("create", "create", "a", ""),
      line("create", "create", "b", ""),
      line("remove", "remove", "c", ""),
    ]);
    expect(counts).toEqual({ create: 2, recreate: 0, update: 0, remove: 1, start: 0 });
    expect(summaryLine(counts)).toBe("Plan: 2 to create, 0 to recreate, 1 to remove.");
    expect(summaryLine({ ...counts, start: 1, update: 2 })).toBe(
      "Plan: 2 to create, 0 to recreate, 1 to remove, 1 to start, 2 to change.",
    );
  });
});
