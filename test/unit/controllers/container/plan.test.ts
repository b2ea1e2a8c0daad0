import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { describeContainerAction } from "../../../../controllers/container/describe.js";
import { assignReplicas } from "../../../../controllers/container/placement.js";
import { planContainers } from "../../../../controllers/container/plan.js";
import type { ObservedContainer } from "../../../../src/model/observed.js";
import type { ContainerSpec } from "../../../../src/model/resources.js";
import type { NodePlanInput } from "../../../../src/reconcile/controller.js";
import { countEffects } from "../../../../src/reconcile/render.js";
import { entriesFor, running, STACK, simulate, spec } from "./fixtures.js";

type Input = NodePlanInput<ContainerSpec, ObservedContainer>;

/** The plan for node `local`, whose slice declares `desired`. */
function plan(desired: Readonly<Record<string, ContainerSpec>>, overrides: Partial<Input> = {}) {
  return planContainers({
    node: "local",
    stack: STACK,
    entries: entriesFor(desired, "local"),
    observed: [],
    inventory: {},
    prune: false,
    ...overrides,
  });
}

describe("planContainers", () => {
  it("creates every replica of a new resource, named stack_resource_replica_node", () => {
    const web = spec("web", { replicas: 3 });
    const result = plan({ web });
    expect(result.actions.map((a) => [a.type, a.name, a.reason])).toEqual([
      ["create", "shop_web_1_local", "new"],
      ["create", "shop_web_2_local", "new"],
      ["create", "shop_web_3_local", "new"],
    ]);
    expect(result.actions[0]).toMatchObject({
      kind: "container",
      stack: STACK,
      node: "local",
      resource: "web",
    });
  });

  it("does nothing when every container matches its spec and runs", () => {
    const web = spec("web", { replicas: 2 });
    const result = plan({ web }, { observed: [running("local", web, 1), running("local", web, 2)] });
    expect(result.actions).toEqual([]);
    expect(result.unchanged).toBe(2);
  });

  it("recreates only the resource whose env changed, naming the field", () => {
    const web = spec("web");
    const api = spec("api", { env: { A: "1" } });
    const observed = [running("local", web, 1), running("local", api, 1)];
    const changedApi = spec("api", { env: { A: "2" } });
    const result = plan({ web, api: changedApi }, { observed });
    expect(result.actions).toHaveLength(1);
    expect(result.actions[0]).toMatchObject({
      type: "recreate",
      name: "shop_api_1_local",
      changed: ["env"],
      reason: "env changed",
    });
  });

  it("does not recreate when only replicas, placement or heal change", () => {
    const web = spec("web", { replicas: 1 });
    const result = plan(
      { web: { ...web, replicas: 2, heal: false, placement: { nodes: ["local"] } } },
      { observed: [running("local", web, 1)] },
    );
    expect(result.actions.map((a) => [a.type, a.name])).toEqual([["create", "shop_web_2_local"]]);
  });

  it("scales down from the highest replica index", () => {
    const web = spec("web", { replicas: 3 });
    const observed = [1, 2, 3].map((i) => running("local", web, i));
    const result = plan({ web: { ...web, replicas: 1 } }, { observed });
    expect(result.actions.map((a) => [a.type, a.name, a.reason])).toEqual([
      ["remove", "shop_web_2_local", "scale down to 1 on this node"],
      ["remove", "shop_web_3_local", "scale down to 1 on this node"],
    ]);
  });

  it("removes the replicas of a resource no longer placed on this node, saying so", () => {
    const web = spec("web");
    const result = plan(
      { web: { ...web, placement: { nodes: ["elsewhere"] } } },
      { observed: [running("local", web, 1)] },
    );
    expect(result.actions).toMatchObject([
      {
        type: "remove",
        name: "shop_web_1_local",
        cause: "placement",
        reason: "no longer placed on this node",
      },
    ]);
  });

  it("starts a stopped container instead of recreating it", () => {
    const web = spec("web");
    const result = plan({ web }, { observed: [running("local", web, 1, "exited")] });
    expect(result.actions).toMatchObject([
      { type: "start", name: "shop_web_1_local", reason: "container is exited" },
    ]);
  });

  it("reports a container removed by hand as missing when the inventory knew it", () => {
    const web = spec("web", { replicas: 2 });
    const result = plan(
      { web },
      { observed: [running("local", web, 1)], inventory: { web: { replicas: [1, 2] } } },
    );
    expect(result.actions).toMatchObject([
      { type: "create", name: "shop_web_2_local", reason: "missing: removed outside TreeScale" },
    ]);
  });

  it("keeps undeclared owned containers without --prune and says how to remove them", () => {
    const old = spec("old");
    const result = plan({}, { observed: [running("local", old, 1)], inventory: { old: { replicas: [1] } } });
    expect(result.actions).toEqual([]);
    expect(result.notes).toMatchObject([
      {
        kind: "container",
        node: "local",
        resource: "old",
        verb: "kept",
        target: "shop_old_1_local",
        reason: expect.stringContaining("--prune"),
      },
    ]);
  });

  it("prunes only resources in the node's inventory", () => {
    const old = spec("old");
    const foreign = spec("foreign");
    const result = plan(
      {},
      {
        prune: true,
        observed: [running("local", old, 1), running("local", foreign, 1)],
        inventory: { old: { replicas: [1] } },
      },
    );
    expect(result.actions).toMatchObject([
      { type: "remove", name: "shop_old_1_local", cause: "prune", reason: "left the manifests" },
    ]);
    expect(result.notes).toMatchObject([{ verb: "kept", target: "shop_foreign_1_local" }]);
  });

  it("removes duplicate containers of one replica, keeping the matching running one", () => {
    const web = spec("web");
    const good = running("local", web, 1);
    const stale = running("local", spec("web", { env: { OLD: "1" } }), 1);
    const result = plan({ web }, { observed: [stale, good] });
    expect(result.actions).toMatchObject([{ type: "remove", containerId: stale.id, cause: "duplicate" }]);
  });

  it("recreates a dead container", () => {
    const web = spec("web");
    const result = plan({ web }, { observed: [running("local", web, 1, "dead")] });
    expect(result.actions).toMatchObject([{ type: "recreate", reason: "container is dead" }]);
  });

  it("names a container the engine is still removing as transient, for the agent to wait on", () => {
    const web = spec("web");
    const removing = running("local", web, 1, "removing");
    const result = plan({ web }, { observed: [removing] });
    expect(result.transient).toEqual([removing.id]);
    expect(plan({ web }, { observed: [running("local", web, 1)] })).not.toHaveProperty("transient");
  });

  it("plans only the resource asked for when given one", () => {
    const web = spec("web");
    const api = spec("api");
    const result = plan({ web, api }, { only: "api", observed: [running("local", spec("old"), 1)] });
    expect(result.actions.map((a) => a.name)).toEqual(["shop_api_1_local"]);
    expect(result.notes).toEqual([]);
  });

  it("spreads replicas round-robin over matching nodes and reports unschedulable resources", () => {
    const nodes = [
      { name: "b", tags: ["web"] },
      { name: "a", tags: ["web"] },
      { name: "c", tags: ["db"] },
    ];
    const web = spec("web", { replicas: 3, placement: { tags: ["web"] } });
    const gpu = spec("gpu", { placement: { tags: ["gpu"] } });
    const everywhere = spec("agent", { mode: "global" });
    const desired = { web, gpu, agent: everywhere };
    const names = nodes.flatMap((node) =>
      plan(desired, { node: node.name, entries: entriesFor(desired, node.name, nodes) }).actions.map(
        (a) => a.name,
      ),
    );
    expect(names.sort()).toEqual(
      [
        "shop_web_1_a",
        "shop_web_2_b",
        "shop_web_3_a",
        "shop_agent_1_a",
        "shop_agent_1_b",
        "shop_agent_1_c",
      ].sort(),
    );
    expect(assignReplicas(desired, nodes).unschedulable).toEqual([
      { kind: "container", resource: "gpu", reason: "no node matches placement tags=[gpu]" },
    ]);
  });

  it("orders removals before recreates before creates before starts", () => {
    const a = spec("a", { replicas: 2 });
    const b = spec("b");
    const c = spec("c");
    const observed = [
      running("local", a, 1),
      running("local", a, 2),
      running("local", b, 1),
      running("local", c, 1, "exited"),
    ];
    const result = plan(
      { a: { ...a, replicas: 1 }, b: { ...b, env: { X: "1" } }, c, d: spec("d") },
      { observed },
    );
    expect(result.actions.map((x) => x.type)).toEqual(["remove", "recreate", "create", "start"]);
  });

  it("converges in one step: planning again after the plan ran finds nothing to do", () => {
    const names = ["a", "b", "c"];
    const specArb = fc.record({
      replicas: fc.integer({ min: 0, max: 4 }),
      env: fc.dictionary(fc.constantFrom("A", "B"), fc.constantFrom("1", "2")),
      image: fc.constantFrom("img:1", "img:2"),
    });
    const stateArb = fc.record({
      before: fc.dictionary(fc.constantFrom(...names), specArb),
      after: fc.dictionary(fc.constantFrom(...names), specArb),
      stopped: fc.boolean(),
    });
    fc.assert(
      fc.property(stateArb, ({ before, after, stopped }) => {
        const toSpecs = (
          m: Record<string, { replicas: number; env: Record<string, string>; image: string }>,
        ) => Object.fromEntries(Object.entries(m).map(([n, s]) => [n, spec(n, s)]));
        const first = plan(toSpecs(before));
        let observed = simulate([], first.actions);
        if (stopped) observed = observed.map((c) => ({ ...c, state: "exited" as const }));
        const inventory = Object.fromEntries(
          Object.entries(before).map(([n, s]) => [n, { replicas: range(s.replicas) }]),
        );
        const second = plan(toSpecs(after), { observed, inventory, prune: true });
        const third = plan(toSpecs(after), {
          observed: simulate(observed, second.actions),
          inventory: {},
          prune: true,
        });
        expect(third.actions).toEqual([]);
        const total = Object.values(after).reduce((n, s) => n + s.replicas, 0);
        expect(countEffects(third.actions.map(describeContainerAction))).toEqual({
          create: 0,
          recreate: 0,
          update: 0,
          remove: 0,
          start: 0,
        });
        expect(third.unchanged).toBe(total);
      }),
    );
  });
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
