import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { summarize } from "../../../src/plan/actions.js";
import { type PlanInput, planContainers } from "../../../src/plan/container-plan.js";
import { running, simulate, spec } from "./fixtures.js";

const local = [{ name: "local", tags: [] }];

function input(overrides: Partial<PlanInput>): PlanInput {
  return { desired: {}, nodes: local, observed: [], inventories: {}, prune: false, ...overrides };
}

describe("planContainers", () => {
  it("creates every replica of a new resource, named node-resource-replica", () => {
    const web = spec("web", { replicas: 3 });
    const plan = planContainers(input({ desired: { web } }));
    expect(plan.actions.map((a) => [a.type, a.name, a.reason])).toEqual([
      ["create", "local-web-1", "new"],
      ["create", "local-web-2", "new"],
      ["create", "local-web-3", "new"],
    ]);
  });

  it("does nothing when every container matches its spec and runs", () => {
    const web = spec("web", { replicas: 2 });
    const plan = planContainers(
      input({ desired: { web }, observed: [running("local", web, 1), running("local", web, 2)] }),
    );
    expect(plan.actions).toEqual([]);
    expect(plan.unchanged).toBe(2);
  });

  it("recreates only the resource whose env changed, naming the field", () => {
    const web = spec("web");
    const api = spec("api", { env: { A: "1" } });
    const observed = [running("local", web, 1), running("local", api, 1)];
    const changedApi = spec("api", { env: { A: "2" } });
    const plan = planContainers(input({ desired: { web, api: changedApi }, observed }));
    expect(plan.actions).toHaveLength(1);
    expect(plan.actions[0]).toMatchObject({
      type: "recreate",
      name: "local-api-1",
      changed: ["env"],
      reason: "env changed",
    });
  });

  it("does not recreate when only replicas, placement or heal change", () => {
    const web = spec("web", { replicas: 1 });
    const plan = planContainers(
      input({ desired: { web: { ...web, replicas: 2, heal: false } }, observed: [running("local", web, 1)] }),
    );
    expect(plan.actions.map((a) => [a.type, a.name])).toEqual([["create", "local-web-2"]]);
  });

  it("scales down from the highest replica index", () => {
    const web = spec("web", { replicas: 3 });
    const observed = [1, 2, 3].map((i) => running("local", web, i));
    const plan = planContainers(input({ desired: { web: { ...web, replicas: 1 } }, observed }));
    expect(plan.actions.map((a) => [a.type, a.name, a.reason])).toEqual([
      ["remove", "local-web-2", "scale down to 1 on this node"],
      ["remove", "local-web-3", "scale down to 1 on this node"],
    ]);
  });

  it("starts a stopped container instead of recreating it", () => {
    const web = spec("web");
    const plan = planContainers(input({ desired: { web }, observed: [running("local", web, 1, "exited")] }));
    expect(plan.actions).toMatchObject([
      { type: "start", name: "local-web-1", reason: "container is exited" },
    ]);
  });

  it("reports a container removed by hand as missing when the inventory knew it", () => {
    const web = spec("web", { replicas: 2 });
    const plan = planContainers(
      input({
        desired: { web },
        observed: [running("local", web, 1)],
        inventories: { local: { web: { replicas: [1, 2] } } },
      }),
    );
    expect(plan.actions).toMatchObject([
      { type: "create", name: "local-web-2", reason: "missing: removed outside TreeScale" },
    ]);
  });

  it("keeps undeclared owned containers without --prune and says how to remove them", () => {
    const old = spec("old");
    const plan = planContainers(
      input({ observed: [running("local", old, 1)], inventories: { local: { old: { replicas: [1] } } } }),
    );
    expect(plan.actions).toEqual([]);
    expect(plan.orphans).toMatchObject([{ name: "local-old-1", reason: expect.stringContaining("--prune") }]);
  });

  it("prunes only resources in the node's inventory", () => {
    const old = spec("old");
    const foreign = spec("foreign");
    const plan = planContainers(
      input({
        prune: true,
        observed: [running("local", old, 1), running("local", foreign, 1)],
        inventories: { local: { old: { replicas: [1] } } },
      }),
    );
    expect(plan.actions).toMatchObject([{ type: "remove", name: "local-old-1", cause: "prune" }]);
    expect(plan.orphans).toMatchObject([{ name: "local-foreign-1" }]);
  });

  it("removes duplicate containers of one replica, keeping the matching running one", () => {
    const web = spec("web");
    const good = running("local", web, 1);
    const stale = running("local", spec("web", { env: { OLD: "1" } }), 1);
    const plan = planContainers(input({ desired: { web }, observed: [stale, good] }));
    expect(plan.actions).toMatchObject([{ type: "remove", containerId: stale.id, cause: "duplicate" }]);
  });

  it("recreates a dead container", () => {
    const web = spec("web");
    const plan = planContainers(input({ desired: { web }, observed: [running("local", web, 1, "dead")] }));
    expect(plan.actions).toMatchObject([{ type: "recreate", reason: "container is dead" }]);
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
    const plan = planContainers(input({ nodes, desired: { web, gpu, agent: everywhere } }));
    expect(plan.actions.map((a) => a.name).sort()).toEqual(
      ["a-web-1", "b-web-2", "a-web-3", "a-agent-1", "b-agent-1", "c-agent-1"].sort(),
    );
    expect(plan.unschedulable).toEqual([{ resource: "gpu", reason: "no node matches placement tags=[gpu]" }]);
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
    const plan = planContainers(
      input({
        desired: { a: { ...a, replicas: 1 }, b: { ...b, env: { X: "1" } }, c, d: spec("d") },
        observed,
      }),
    );
    expect(plan.actions.map((x) => x.type)).toEqual(["remove", "recreate", "create", "start"]);
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
        const first = planContainers(input({ desired: toSpecs(before) }));
        let observed = simulate([], first.actions);
        if (stopped) observed = observed.map((c) => ({ ...c, state: "exited" as const }));
        const inventory = Object.fromEntries(
          Object.entries(before).map(([n, s]) => [n, { replicas: range(s.replicas) }]),
        );
        const second = planContainers(
          input({ desired: toSpecs(after), observed, inventories: { local: inventory }, prune: true }),
        );
        const third = planContainers(
          input({
            desired: toSpecs(after),
            observed: simulate(observed, second.actions),
            inventories: {},
            prune: true,
          }),
        );
        expect(third.actions).toEqual([]);
        const total = Object.values(after).reduce((n, s) => n + s.replicas, 0);
        expect(summarize(third.actions)).toEqual({ create: 0, recreate: 0, remove: 0, start: 0 });
        expect(third.unchanged).toBe(total);
      }),
    );
  });
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
