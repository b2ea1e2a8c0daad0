import { describe, expect, it } from "vitest";
import { planContainers } from "../../../src/plan/container-plan.js";
import { planToJson, renderPlanText } from "../../../src/plan/render.js";
import { running, spec } from "./fixtures.js";

const nodes = [{ name: "local", tags: [] }];

describe("plan rendering", () => {
  it("prints one line per action with its symbol and reason, then the terraform-style totals", () => {
    const web = spec("web", { replicas: 2 });
    const api = spec("api");
    const plan = planContainers({
      desired: { web: { ...web, replicas: 3 }, api: { ...api, image: "local/busybox:2" } },
      nodes,
      observed: [
        running("local", web, 1),
        running("local", web, 2),
        running("local", api, 1),
        running("local", spec("old"), 1),
      ],
      inventories: { local: { web: { replicas: [1, 2] }, api: { replicas: [1] }, old: { replicas: [1] } } },
      prune: true,
    });
    expect(renderPlanText(plan)).toBe(
      [
        "TreeScale will perform the following actions:",
        "",
        "  - remove   local-old-1  left the manifests",
        "  ~ recreate local-api-1  image changed",
        "  + create   local-web-3  scale up to 3 on this node",
        "",
        "Plan: 1 to create, 1 to recreate, 1 to remove.",
        "",
      ].join("\n"),
    );
  });

  it("says so when there is nothing to do", () => {
    const plan = planContainers({ desired: {}, nodes, observed: [], inventories: {}, prune: false });
    expect(renderPlanText(plan)).toBe("No changes. Containers match the manifests.\n");
  });

  it("gives scripts the same content as JSON", () => {
    const plan = planContainers({
      desired: { web: spec("web") },
      nodes,
      observed: [],
      inventories: {},
      prune: false,
    });
    expect(planToJson(plan)).toMatchObject({
      summary: { create: 1, recreate: 0, remove: 0, start: 0 },
      actions: [
        { action: "create", node: "local", resource: "web", replica: 1, name: "local-web-1", reason: "new" },
      ],
    });
  });
});
