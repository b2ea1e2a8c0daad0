import { describe, expect, it } from "vitest";
import {
  containerActionJson,
  containerRows,
  describeContainerAction,
} from "../../../../controllers/container/describe.js";
import { planContainers } from "../../../../controllers/container/plan.js";
import { actionLines, countEffects, noteLines, summaryLine } from "../../../../src/reconcile/render.js";
import { entriesFor, running, STACK, spec } from "./fixtures.js";

describe("container plans as people read them", () => {
  it("prints one line per action with its symbol and reason, then the terraform-style totals", () => {
    const web = spec("web", { replicas: 2 });
    const api = spec("api");
    const plan = planContainers({
      node: "local",
      stack: STACK,
      entries: entriesFor(
        { web: { ...web, replicas: 3 }, api: { ...api, image: "local/busybox:2" } },
        "local",
      ),
      observed: [
        running("local", web, 1),
        running("local", web, 2),
        running("local", api, 1),
        running("local", spec("old"), 1),
      ],
      inventory: { web: { replicas: [1, 2] }, api: { replicas: [1] }, old: { replicas: [1] } },
      prune: true,
    });
    const lines = plan.actions.map(describeContainerAction);
    expect(actionLines(lines)).toEqual([
      "  - remove   shop_old_1_local  left the manifests",
      "  ~ recreate shop_api_1_local  image changed",
      "  + create   shop_web_3_local  scale up to 3 on this node",
    ]);
    expect(summaryLine(countEffects(lines))).toBe("Plan: 1 to create, 1 to recreate, 1 to remove.");
  });

  it("says which owned containers it keeps, and why", () => {
    const plan = planContainers({
      node: "local",
      stack: STACK,
      entries: {},
      observed: [running("local", spec("old"), 1)],
      inventory: {},
      prune: false,
    });
    expect(noteLines(plan.notes)).toEqual([
      "  ! kept     shop_old_1_local  no longer declared; run with --prune to remove it",
    ]);
  });

  it("counts nothing when there is nothing to do", () => {
    const web = spec("web");
    const plan = planContainers({
      node: "local",
      stack: STACK,
      entries: entriesFor({ web }, "local"),
      observed: [running("local", web, 1)],
      inventory: {},
      prune: false,
    });
    const lines = plan.actions.map(describeContainerAction);
    expect(actionLines(lines)).toEqual([]);
    expect(summaryLine(countEffects(lines))).toBe("Plan: 0 to create, 0 to recreate, 0 to remove.");
  });

  it("gives scripts the same content as JSON, the resource named by kind", () => {
    const plan = planContainers({
      node: "local",
      stack: STACK,
      entries: entriesFor({ web: spec("web") }, "local"),
      observed: [],
      inventory: {},
      prune: false,
    });
    const lines = plan.actions.map(describeContainerAction);
    expect(countEffects(lines)).toEqual({ create: 1, recreate: 0, update: 0, remove: 0, start: 0 });
    expect(plan.actions.map(containerActionJson)).toEqual([
      {
        action: "create",
        node: "local",
        stack: STACK,
        resource: "container/web",
        replica: 1,
        name: "shop_web_1_local",
        reason: "new",
        hash: expect.stringMatching(/^[0-9a-f]{16}$/),
      },
    ]);
  });

  it("leaves the spec out of the JSON, keeping what a recreate, start or remove needs", () => {
    const web = spec("web", { replicas: 3 });
    const observed = [
      running("local", web, 1, "exited"),
      running("local", spec("web", { env: { A: "1" } }), 2),
      running("local", web, 3),
    ];
    const plan = planContainers({
      node: "local",
      stack: STACK,
      entries: { web: { spec: web, replicas: [1, 2] } },
      observed,
      inventory: {},
      prune: false,
    });
    const json = plan.actions.map(containerActionJson);
    expect(json).toMatchObject([
      { action: "remove", containerId: observed[2]?.id, cause: "scale-down" },
      { action: "recreate", containerId: observed[1]?.id, changed: ["env"], hash: expect.any(String) },
      { action: "start", containerId: observed[0]?.id },
    ]);
    for (const entry of json) expect(entry).not.toHaveProperty("spec");
  });

  it("lists containers for `get` in the order people count replicas", () => {
    const web = spec("web");
    const rows = containerRows([
      running("n", web, 27),
      running("n", web, 3),
      { ...running("n", web, 10, "exited"), restarts: 4 },
    ]);
    expect(rows.map((row) => row.name)).toEqual(["shop_web_3_n", "shop_web_10_n", "shop_web_27_n"]);
    expect(rows[1]).toMatchObject({
      stack: STACK,
      resource: "web",
      node: "n",
      replica: 10,
      state: "exited",
      restarts: 4,
    });
    // Not read yet is said as such, not shown as 0.
    expect(rows[0]).toMatchObject({ restarts: null });
  });
});
