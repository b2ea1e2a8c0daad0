import { describe, expect, it } from "vitest";
import type { NodeState } from "../../../src/agent/status.js";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import { renderFleetPlanText } from "../../../src/fleet/render.js";
import { emptyDesiredState, type ServerSpec } from "../../../src/model/resources.js";
import { running, spec } from "../plan/fixtures.js";

function server(name: string, tags: string[], childs: string[] = []): ServerSpec {
  return { name, ip: "127.0.0.1", servicePort: 8888, tags, groups: [], childs };
}

function state(node: string, overrides: Partial<NodeState> = {}): NodeState {
  return {
    node,
    tags: [],
    children: [],
    generation: 0,
    settled: true,
    containers: [],
    statuses: [],
    inventory: {},
    slice: { generation: 0, prune: false, containers: {} },
    ...overrides,
  };
}

function desired(servers: ServerSpec[], containers: ReturnType<typeof spec>[]) {
  const d = emptyDesiredState();
  for (const s of servers) d.servers[s.name] = s;
  for (const c of containers) d.containers[c.name] = c;
  return d;
}

describe("planFleet", () => {
  const servers = [server("root", ["core"], ["c1", "c2"]), server("c1", ["web"]), server("c2", ["web"])];

  it("spreads replicas over nodes by tags and plans each reachable node", () => {
    const web = spec("web", { replicas: 3, placement: { tags: ["web"] } });
    const plan = planFleet({
      desired: desired(servers, [web]),
      states: [
        state("root"),
        state("c1", { parent: "root" }),
        state("c2", { parent: "root", generation: 4 }),
      ],
      prune: false,
    });
    expect(plan.generation).toBe(5);
    expect(plan.nodes.map((n) => [n.node, n.actions.map((a) => a.name)])).toEqual([
      ["c1", ["c1-web-1", "c1-web-3"]],
      ["c2", ["c2-web-2"]],
      ["root", []],
    ]);
    expect(plan.nodes.find((n) => n.node === "c2")?.slice).toMatchObject({
      generation: 5,
      containers: { web: { replicas: [2] } },
    });
    expect(plan.links).toEqual([]);
  });

  it("keeps an unreachable node's share, sends it nothing, and refuses prune", () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const plan = planFleet({
      desired: desired(servers, [web]),
      states: [
        state("root"),
        state("c1", {
          parent: "root",
          inventory: { old: { replicas: [1] } },
          containers: [running("c1", spec("old"), 1)],
        }),
      ],
      prune: true,
    });
    expect(plan.unreachable).toEqual(["c2"]);
    expect(plan.pruneRefused).toContain("c2");
    const c1 = plan.nodes.find((n) => n.node === "c1")!;
    expect(c1.actions.map((a) => a.name)).toEqual(["c1-web-1"]);
    expect(c1.orphans.map((o) => o.name)).toEqual(["c1-old-1"]);
    expect(c1.slice.prune).toBe(false);
    const c2 = plan.nodes.find((n) => n.node === "c2")!;
    expect(c2).toMatchObject({ reachable: false, slice: { containers: { web: { replicas: [2] } } } });
    expect(renderFleetPlanText(plan)).toContain(
      "node c2: UNREACHABLE — nothing sent; its share (web×1) is kept for it",
    );
  });

  it("plans link moves from the servers' childs and reports links to stopped servers as pending", () => {
    const reparented = [
      server("root", [], ["c1"]),
      server("c1", [], ["c2"]),
      server("c2", []),
      server("c3", []),
    ];
    reparented[0]!.childs.push("c3");
    const plan = planFleet({
      desired: desired(reparented, []),
      states: [state("root"), state("c1", { parent: "root" }), state("c2", { parent: "root" })],
      prune: false,
    });
    expect(plan.links).toEqual([
      { type: "move", child: "c2", from: "root", to: "c1" },
      { type: "pending", child: "c3", to: "root", reason: "c3 is not running" },
    ]);
    const text = renderFleetPlanText(plan);
    expect(text).toContain("~ link c2: root → c1");
    expect(text).toContain("Plan: 0 to create, 0 to recreate, 0 to remove, 1 link to move.");
  });

  it("without declared servers, the fleet is the nodes that answered", () => {
    const plan = planFleet({
      desired: desired([], [spec("agent", { mode: "global" })]),
      states: [state("a"), state("b")],
      prune: false,
    });
    expect(plan.nodes.flatMap((n) => n.actions.map((a) => a.name))).toEqual(["a-agent-1", "b-agent-1"]);
  });
});
