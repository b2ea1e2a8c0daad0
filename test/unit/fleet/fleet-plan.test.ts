import { describe, expect, it } from "vitest";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import { renderFleetPlanText } from "../../../src/fleet/render.js";
import { emptyDesiredState, type ServerSpec } from "../../../src/model/resources.js";
import { nodeState } from "../../support/node-state.js";
import { running, spec } from "../plan/fixtures.js";

function server(name: string, tags: string[], childs: string[] = []): ServerSpec {
  return { name, ip: "127.0.0.1", servicePort: 8888, tags, groups: [], childs };
}

const state = nodeState;

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

  it("without declared servers, a child reported down keeps its share and prune is refused naming it", () => {
    const web = spec("web", { replicas: 3, placement: { tags: ["web"] } });
    const lost = { node: "b", status: "down" as const, since: "", tags: ["web"] };
    const plan = planFleet({
      desired: desired([], [web]),
      states: [
        state("a", { tags: ["web"], children: [lost] }),
        state("c", {
          tags: ["web"],
          inventory: { old: { replicas: [1] } },
          containers: [running("c", spec("old"), 1)],
        }),
      ],
      prune: true,
    });
    expect(plan.unreachable).toEqual(["b"]);
    expect(plan.pruneRefused).toBe("nodes unreachable: b; prune needs every node's inventory");
    expect(plan.nodes.map((n) => [n.node, n.reachable, n.slice.containers.web?.replicas])).toEqual([
      ["a", true, [1]],
      ["b", false, [2]],
      ["c", true, [3]],
    ]);
    const c = plan.nodes.find((n) => n.node === "c")!;
    expect(c.actions.map((a) => a.name)).toEqual(["c-web-3"]);
    expect(c.orphans.map((o) => o.name)).toEqual(["c-old-1"]);
  });

  it("without declared servers, a child linked but silent in the gathering window counts as unreachable too", () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const slow = { node: "b", status: "up" as const, since: "", tags: ["web"] };
    const plan = planFleet({
      desired: desired([], [web]),
      states: [state("a", { tags: ["web"], children: [slow] })],
      prune: true,
    });
    expect(plan.unreachable).toEqual(["b"]);
    expect(plan.pruneRefused).toContain("b");
    expect(plan.nodes.find((n) => n.node === "b")?.slice.containers.web?.replicas).toEqual([2]);
  });

  it("without declared servers, a lost child whose tags are unknown keeps what places anywhere", () => {
    const agent = spec("agent", { mode: "global" });
    const plan = planFleet({
      desired: desired([], [agent]),
      states: [state("a", { children: [{ node: "b", status: "down", since: "" }] })],
      prune: true,
    });
    expect(plan.unreachable).toEqual(["b"]);
    expect(plan.pruneRefused).toContain("b");
    expect(plan.nodes.find((n) => n.node === "b")).toMatchObject({
      reachable: false,
      undeclared: false,
      slice: { containers: { agent: { replicas: [1] } } },
    });
  });

  it("without declared servers, a child reported down that answers anyway (moved parent) is just reachable", () => {
    const plan = planFleet({
      desired: desired([], [spec("agent", { mode: "global" })]),
      states: [state("a", { children: [{ node: "b", status: "down", since: "" }] }), state("b")],
      prune: true,
    });
    expect(plan.unreachable).toEqual([]);
    expect(plan.pruneRefused).toBeUndefined();
  });
});
