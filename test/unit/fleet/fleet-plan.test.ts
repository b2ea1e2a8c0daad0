import { describe, expect, it } from "vitest";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import { fleetPlanJson, renderFleetPlanText } from "../../../src/fleet/render.js";
import {
  type BalancerSpec,
  type ContainerSpec,
  emptyDesiredState,
  type ServerSpec,
} from "../../../src/model/resources.js";
import type { Observation } from "../../../src/model/wire.js";
import type { Registry } from "../../../src/reconcile/registry.js";
import { nodeState, observation, stackState } from "../../support/node-state.js";
import { planningRegistry } from "../../support/registry.js";
import { toyKind } from "../../support/toy-kind.js";
import { running, STACK, spec } from "../controllers/container/fixtures.js";

function server(name: string, tags: string[], childs: string[] = []): ServerSpec {
  return { name, ip: "127.0.0.1", servicePort: 8888, tags, groups: [], childs };
}

const state = nodeState;
const registry = planningRegistry();

function desired(servers: ServerSpec[], containers: ContainerSpec[]) {
  const d = emptyDesiredState();
  for (const s of servers) d.servers[s.name] = s;
  for (const c of containers) d.containers[c.name] = c;
  return d;
}

/** A plan of stack STACK through the shipped kinds. */
function plan(
  input: Omit<Parameters<typeof planFleet>[0], "stack" | "registry">,
  kinds: Registry = registry,
) {
  return planFleet({ ...input, stack: STACK, registry: kinds });
}

/** What each action acts on, as its kind names it in a plan. */
function targets(
  node: { actions: readonly Parameters<Registry["describe"]>[0][] } | undefined,
  kinds = registry,
) {
  return (node?.actions ?? []).map((action) => kinds.describe(action).target);
}

/** A node that runs these containers of STACK, recorded as applied at generation 1. */
function runningState(node: string, tags: string[], containers: ContainerSpec[], parent?: string) {
  return state(node, {
    tags,
    ...(parent !== undefined ? { parent } : {}),
    observed: { container: observation(containers.map((c) => running(node, c, 1))) },
    stacks: {
      [STACK]: stackState(
        STACK,
        1,
        Object.fromEntries(containers.map((c) => [`container/${c.name}`, { spec: c, replicas: [1] }])),
      ),
    },
  });
}

describe("planFleet", () => {
  const servers = [server("root", ["core"], ["c1", "c2"]), server("c1", ["web"]), server("c2", ["web"])];

  it("gives the containers placed on a server its image_source, unless they set their own; nothing is recreated for it", () => {
    const plain = spec("web");
    const own = { ...spec("api"), imageSource: "registry" as const };
    const planOn = (node: ServerSpec) =>
      plan({
        desired: desired([node], [plain, own]),
        states: [runningState(node.name, node.tags, [plain, own])],
        prune: false,
      }).nodes[0]!;
    const specOf = (node: ReturnType<typeof planOn>, name: string) =>
      (node.slice.resources[`container/${name}`]!.spec as ContainerSpec).imageSource;
    const edge = planOn({ ...server("edge", ["web"]), imageSource: "tree" });
    expect([specOf(edge, "web"), specOf(edge, "api")]).toEqual(["tree", "registry"]);
    const core = planOn(server("core", ["web"]));
    expect([specOf(core, "web"), specOf(core, "api")]).toEqual([undefined, "registry"]);
    // Where an image comes from when missing does not shape the container: no action on either.
    expect([edge.actions, core.actions]).toEqual([[], []]);
  });

  it("shows a recreate's changed values from the slice the node holds, in text and JSON", () => {
    const before = spec("web", { env: { MODE: "a", API_TOKEN: "t1" } });
    const after = spec("web", { env: { MODE: "b", API_TOKEN: "t2" } });
    const result = plan({
      desired: desired([server("solo", [])], [after]),
      states: [runningState("solo", [], [before])],
      prune: false,
    });
    const text = renderFleetPlanText(result, registry);
    expect(text).toContain('      ~ env.MODE: "a" → "b"\n');
    expect(text).toContain("      ~ env.API_TOKEN: (sensitive)\n");
    expect(fleetPlanJson(result, registry)).toMatchObject({
      nodes: [
        {
          actions: [
            {
              action: "recreate",
              changes: [
                { field: "env.API_TOKEN", from: "(sensitive)", to: "(sensitive)", sensitive: true },
                { field: "env.MODE", from: "a", to: "b" },
              ],
            },
          ],
        },
      ],
    });
    expect(JSON.stringify(fleetPlanJson(result, registry))).not.toMatch(/t1|t2/);
  });

  it("spreads replicas over nodes by tags and plans each reachable node", () => {
    const web = spec("web", { replicas: 3, placement: { tags: ["web"] } });
    const result = plan({
      desired: desired(servers, [web]),
      states: [
        state("root"),
        state("c1", { parent: "root" }),
        state("c2", { parent: "root", stacks: { [STACK]: stackState(STACK, 4) } }),
      ],
      prune: false,
    });
    expect(result.generation).toBe(5);
    expect(result.nodes.map((n) => [n.node, targets(n)])).toEqual([
      ["c1", ["shop_web_1_c1", "shop_web_3_c1"]],
      ["c2", ["shop_web_2_c2"]],
      ["root", []],
    ]);
    expect(result.nodes.find((n) => n.node === "c2")?.slice).toMatchObject({
      stack: STACK,
      generation: 5,
      resources: { "container/web": { replicas: [2] } },
    });
    expect(result.fleet).toEqual({ actions: [], notes: [] });
  });

  it("keeps an unreachable node's share, sends it nothing, and refuses prune", () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const result = plan({
      desired: desired(servers, [web]),
      states: [state("root"), runningState("c1", [], [spec("old")], "root")],
      prune: true,
    });
    expect(result.unreachable).toEqual(["c2"]);
    expect(result.pruneRefused).toContain("c2");
    const c1 = result.nodes.find((n) => n.node === "c1")!;
    expect(targets(c1)).toEqual(["shop_web_1_c1"]);
    expect(c1.notes.map((note) => [note.verb, note.target])).toEqual([["kept", "shop_old_1_c1"]]);
    expect(c1.slice.prune).toBe(false);
    const c2 = result.nodes.find((n) => n.node === "c2")!;
    expect(c2).toMatchObject({
      reachable: false,
      slice: { resources: { "container/web": { replicas: [2] } } },
    });
    expect(renderFleetPlanText(result, registry)).toContain(
      "node c2: UNREACHABLE — nothing sent; its share (container/web×1) is kept for it",
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
    const result = plan({
      desired: desired(reparented, []),
      states: [state("root"), state("c1", { parent: "root" }), state("c2", { parent: "root" })],
      prune: false,
    });
    expect(result.fleet.actions).toEqual([
      {
        kind: "node-link",
        type: "move",
        resource: "c2",
        node: "c2",
        from: "root",
        to: "c1",
        host: "127.0.0.1",
        port: 8888,
      },
    ]);
    expect(result.fleet.notes).toEqual([
      {
        kind: "node-link",
        node: "c3",
        resource: "c3",
        verb: "pending",
        target: "c3 → root",
        reason: "c3 is not running",
      },
    ]);
    const text = renderFleetPlanText(result, registry);
    expect(text).toMatch(
      /^fleet:\n {2}~ link +c2 +root → c1\n {2}! pending +c3 → root {2}c3 is not running$/m,
    );
    expect(text).toContain("Plan: 0 to create, 0 to recreate, 0 to remove, 1 to change.");
  });

  it("without declared servers, the fleet is the nodes that answered", () => {
    const result = plan({
      desired: desired([], [spec("agent", { mode: "global" })]),
      states: [state("a"), state("b")],
      prune: false,
    });
    expect(result.nodes.flatMap((n) => targets(n))).toEqual(["shop_agent_1_a", "shop_agent_1_b"]);
  });

  it("without declared servers, a child reported down keeps its share and prune is refused naming it", () => {
    const web = spec("web", { replicas: 3, placement: { tags: ["web"] } });
    const lost = { node: "b", status: "down" as const, since: "", tags: ["web"] };
    const result = plan({
      desired: desired([], [web]),
      states: [state("a", { tags: ["web"], children: [lost] }), runningState("c", ["web"], [spec("old")])],
      prune: true,
    });
    expect(result.unreachable).toEqual(["b"]);
    expect(result.pruneRefused).toBe("nodes unreachable: b; prune needs every node's inventory");
    expect(
      result.nodes.map((n) => [n.node, n.reachable, n.slice.resources["container/web"]?.replicas]),
    ).toEqual([
      ["a", true, [1]],
      ["b", false, [2]],
      ["c", true, [3]],
    ]);
    const c = result.nodes.find((n) => n.node === "c")!;
    expect(targets(c)).toEqual(["shop_web_3_c"]);
    expect(c.notes.map((note) => [note.verb, note.target])).toEqual([["kept", "shop_old_1_c"]]);
  });

  it("without declared servers, a child linked but silent in the gathering window counts as unreachable too", () => {
    const web = spec("web", { replicas: 2, placement: { tags: ["web"] } });
    const slow = { node: "b", status: "up" as const, since: "", tags: ["web"] };
    const result = plan({
      desired: desired([], [web]),
      states: [state("a", { tags: ["web"], children: [slow] })],
      prune: true,
    });
    expect(result.unreachable).toEqual(["b"]);
    expect(result.pruneRefused).toContain("b");
    expect(result.nodes.find((n) => n.node === "b")?.slice.resources["container/web"]?.replicas).toEqual([2]);
  });

  it("without declared servers, a lost child whose tags are unknown keeps what places anywhere", () => {
    const agent = spec("agent", { mode: "global" });
    const result = plan({
      desired: desired([], [agent]),
      states: [state("a", { children: [{ node: "b", status: "down", since: "" }] })],
      prune: true,
    });
    expect(result.unreachable).toEqual(["b"]);
    expect(result.pruneRefused).toContain("b");
    expect(result.nodes.find((n) => n.node === "b")).toMatchObject({
      reachable: false,
      undeclared: false,
      slice: { resources: { "container/agent": { replicas: [1] } } },
    });
  });

  it("without declared servers, a child reported down that answers anyway (moved parent) is just reachable", () => {
    const result = plan({
      desired: desired([], [spec("agent", { mode: "global" })]),
      states: [state("a", { children: [{ node: "b", status: "down", since: "" }] }), state("b")],
      prune: true,
    });
    expect(result.unreachable).toEqual([]);
    expect(result.pruneRefused).toBeUndefined();
  });

  it.each<[string, Observation]>([
    ["has not listed its containers yet", { synced: false, items: [] }],
    ["its last list failed", { synced: true, error: "connect ENOENT /var/run/docker.sock", items: [] }],
  ])(
    "a node that answered but %s is unreachable: nothing planned for it, prune refused naming it",
    (_, seen) => {
      const web = spec("web", { mode: "global", placement: { tags: ["web"] } });
      const blind = { ...runningState("c2", ["web"], [spec("old")], "root"), observed: { container: seen } };
      const result = plan({
        desired: desired(servers, [web]),
        states: [state("root"), state("c1", { parent: "root", tags: ["web"] }), blind],
        prune: true,
      });
      const reason = seen.error ?? "has not listed its objects yet";
      expect(result.unreachable).toEqual(["c2"]);
      expect(result.pruneRefused).toBe("nodes unreachable: c2; prune needs every node's inventory");
      expect(result.nodes.find((n) => n.node === "c2")).toMatchObject({
        reachable: false,
        blind: [`container: ${reason}`],
        actions: [],
        notes: [],
        slice: { prune: false, resources: { "container/web": { replicas: [1] } } },
      });
      expect(targets(result.nodes.find((n) => n.node === "c1"))).toEqual(["shop_web_1_c1"]);
      expect(renderFleetPlanText(result, registry)).toContain(
        `node c2: cannot see its objects (container: ${reason}) — nothing sent; its share (container/web×1) is kept for it`,
      );
    },
  );

  it("a node blind only to a kind these manifests do not use (no balancers declared) is planned as usual", () => {
    const web = spec("web", { mode: "global", placement: { tags: ["web"] } });
    const c2 = {
      ...state("c2", { parent: "root", tags: ["web"] }),
      observed: {
        container: observation([]),
        balancer: observation([], { synced: false, error: "nft: Operation not permitted" }),
      },
    };
    const result = plan({
      desired: desired(servers, [web]),
      states: [state("root"), state("c1", { parent: "root", tags: ["web"] }), c2],
      prune: true,
    });
    expect(result.unreachable).toEqual([]);
    expect(result.pruneRefused).toBeUndefined();
    expect(result.nodes.find((n) => n.node === "c2")).toMatchObject({ reachable: true, blind: [] });
  });

  it("a plan for one stack never proposes removing another stack's containers, even with prune", () => {
    const otherWeb = spec("web", { image: "local/web:1" });
    const c1 = state("c1", {
      tags: ["web"],
      observed: {
        container: observation([
          running("c1", otherWeb, 1, "running", "a"),
          running("c1", spec("old"), 1, "running", "a"),
        ]),
      },
      stacks: {
        a: stackState("a", 7, {
          "container/web": { spec: otherWeb, replicas: [1] },
          "container/old": { spec: spec("old"), replicas: [1] },
        }),
      },
    });
    const result = planFleet({
      desired: desired([server("c1", ["web"])], [spec("web", { image: "local/web:2" })]),
      states: [c1],
      stack: "b",
      prune: true,
      registry,
    });
    expect(result.pruneRefused).toBeUndefined();
    expect(result.generation).toBe(1);
    const [node] = result.nodes;
    expect(node?.slice).toMatchObject({ stack: "b", prune: true });
    expect(node?.previous).toBeUndefined();
    expect(node?.actions.map((a) => [a.type, registry.describe(a).target])).toEqual([
      ["create", "b_web_1_c1"],
    ]);
    expect(node?.notes).toEqual([]);
    expect(renderFleetPlanText(result, registry)).not.toContain("a_");
  });

  it("reports declared resources of kinds no registered controller acts on, and servers' ssh blocks", () => {
    const front: BalancerSpec = {
      name: "front",
      address: "10.0.0.1",
      port: 80,
      protocol: "tcp",
      alg: "rr",
      backend: "auto",
      drainTimeoutMs: 30_000,
      backends: [{ container: "web", port: 8080, weight: 1 }],
    };
    const edge = { ...server("edge", ["web"]), ssh: { host: "edge.example", port: 22 } };
    const manifests = desired([edge, server("c1", ["web"])], [spec("web")]);
    manifests.balancers.front = front;
    const result = plan({ desired: manifests, states: [state("edge"), state("c1")], prune: false });
    expect(result.unsupported).toEqual([
      {
        kind: "balancer",
        node: "",
        resource: "front",
        verb: "unsupported",
        target: "balancer front",
        reason: "no controller for kind balancer in this version",
      },
      {
        kind: "server",
        node: "",
        resource: "edge",
        verb: "unsupported",
        target: "server edge",
        reason: "no controller for kind server in this version (its ssh block is not acted on)",
      },
    ]);
    const text = renderFleetPlanText(result, registry);
    expect(text).toContain("  ! balancer front: no controller for kind balancer in this version\n");
    expect(text).toContain(
      "  ! server edge: no controller for kind server in this version (its ssh block is not acted on)\n",
    );
    expect(fleetPlanJson(result, registry).unsupported).toEqual(result.unsupported);
  });

  it("plans a node-scope kind registered only here into every node's slice under kind/name keys", () => {
    // Only planned here: its toy box (the directory it would paint in) is never touched.
    const kinds = planningRegistry(toyKind("/nonexistent/toy-box"));
    const manifests = desired([server("c1", []), server("c2", [])], [spec("web", { mode: "global" })]);
    manifests.extensions.toys = { duck: { color: "yellow" } };
    const painted = { stack: STACK, resource: "duck", replica: 1, node: "c1", color: "yellow" };
    const result = plan(
      {
        desired: manifests,
        states: [
          state("c1", { observed: { container: observation([]), toy: observation([painted]) } }),
          state("c2"),
        ],
        prune: false,
      },
      kinds,
    );
    for (const node of result.nodes) {
      expect(Object.keys(node.slice.resources).sort()).toEqual(["container/web", "toy/duck"]);
      expect(node.slice.resources["toy/duck"]).toEqual({
        spec: { name: "duck", color: "yellow" },
        replicas: [1],
      });
    }
    expect(result.nodes.map((n) => [n.node, targets(n, kinds), n.unchanged])).toEqual([
      ["c1", ["shop_web_1_c1"], 1],
      ["c2", ["shop_web_1_c2", "toy duck"], 0],
    ]);
    expect(renderFleetPlanText(result, kinds)).toMatch(/^ {2}\+ paint +toy duck +yellow$/m);
    expect(result.unsupported).toEqual([]);
  });
});
