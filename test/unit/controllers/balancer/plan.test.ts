import { describe, expect, it } from "vitest";
import { balancerHolding, balancerReadiness, planBalancers } from "../../../../controllers/balancer/plan.js";
import type { ObservedBalancer } from "../../../../controllers/balancer/types.js";
import type { ObservedContainer } from "../../../../src/model/observed.js";
import type { BalancerSpec } from "../../../../src/model/resources.js";
import type { Inventory, NodePlanInput, SliceEntry } from "../../../../src/reconcile/controller.js";
import { balancerSpec, container, endpoint, NODE, observedBalancer, rules, STACK } from "./fixtures.js";

const webs = [
  container("web", 1, "172.17.0.2"),
  container("web", 2, "172.17.0.3"),
  container("web", 3, "172.17.0.10"),
];
const weighted = balancerSpec("front", {
  backends: [
    { container: "web", port: 80, weight: 2 },
    { container: "api", port: 8080, weight: 0 },
  ],
});
const api = container("api", 1, "172.17.0.20");
/** What the kernel holds once `weighted` is in place over `webs`. */
const heldRules = rules({
  endpoints: [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.3", 80, 2), endpoint("172.17.0.10", 80, 2)],
});

function plan(
  specs: BalancerSpec[],
  observed: ObservedBalancer[],
  options: { prune?: boolean; inventory?: Inventory; only?: string; elsewhere?: string[] } = {},
) {
  const input: NodePlanInput<BalancerSpec, ObservedBalancer> = {
    node: NODE,
    stack: STACK,
    entries: Object.fromEntries(
      specs.map((s) => [s.name, { spec: s, replicas: options.elsewhere?.includes(s.name) ? [] : [1] }]),
    ),
    observed,
    inventory: options.inventory ?? {},
    prune: options.prune ?? false,
    peers: { container: [...webs, api] },
    ...(options.only === undefined ? {} : { only: options.only }),
  };
  return planBalancers(input);
}

describe("planBalancers", () => {
  it("ensures a new balancer with its rules and says where it sends traffic", () => {
    const result = plan([weighted], []);
    expect(result).toMatchObject({ notes: [], unchanged: 0 });
    expect(result.actions).toEqual([
      {
        kind: "balancer",
        node: NODE,
        stack: STACK,
        replica: 1,
        type: "ensure",
        resource: "front",
        spec: weighted,
        rules: rules({
          endpoints: [
            endpoint("172.17.0.2", 80, 2, "shop_web_1_node1"),
            endpoint("172.17.0.3", 80, 2, "shop_web_2_node1"),
            endpoint("172.17.0.10", 80, 2, "shop_web_3_node1"),
          ],
        }),
        unreachable: [],
        reason: "10.0.0.10:443 wrr → 3 backends",
      },
    ]);
  });

  it("leaves a balancer the kernel already holds as planned alone", () => {
    expect(plan([weighted], [observedBalancer("front", heldRules)])).toEqual({
      actions: [],
      notes: [],
      unchanged: 1,
    });
  });

  it("ensures a balancer whose endpoints changed, against what the kernel holds, saying what it was", () => {
    const current = observedBalancer("front", { ...heldRules, endpoints: heldRules.endpoints.slice(0, 2) });
    const { actions, unchanged } = plan([weighted], [current]);
    expect(unchanged).toBe(0);
    expect(actions).toMatchObject([
      {
        type: "ensure",
        resource: "front",
        current,
        reason: "10.0.0.10:443 wrr → 3 backends (was 10.0.0.10:443 wrr → 2 backends)",
      },
    ]);
  });

  it("ensures a balancer whose scheduler changed", () => {
    const current = observedBalancer("front", heldRules);
    const { actions } = plan([{ ...weighted, alg: "sh" }], [current]);
    expect(actions).toMatchObject([
      {
        type: "ensure",
        current,
        reason: "10.0.0.10:443 sh → 3 backends (was 10.0.0.10:443 wrr → 3 backends)",
      },
    ]);
  });

  it("ensures a balancer whose address moved", () => {
    const current = observedBalancer("front", heldRules);
    const { actions } = plan([{ ...weighted, address: "10.0.0.11", port: 80 }], [current]);
    expect(actions).toMatchObject([
      {
        type: "ensure",
        current,
        reason: "10.0.0.11:80 wrr → 3 backends (was 10.0.0.10:443 wrr → 3 backends)",
      },
    ]);
  });

  it("gives every endpoint weight 1 under rr and random, and keeps the weights under wrr", () => {
    const weightsUnder = (alg: BalancerSpec["alg"]) => {
      const [action] = plan([{ ...weighted, alg }], []).actions;
      return action?.type === "ensure" ? action.rules.endpoints.map((e) => e.weight) : [];
    };
    expect(weightsUnder("rr")).toEqual([1, 1, 1]);
    expect(weightsUnder("random")).toEqual([1, 1, 1]);
    expect(weightsUnder("wrr")).toEqual([2, 2, 2]);
    expect(weightsUnder("sh")).toEqual([2, 2, 2]);
  });

  it("leaves backends of weight 0 out of the rules", () => {
    const [action] = plan([weighted], []).actions;
    expect(action?.type === "ensure" && action.rules.endpoints.map((e) => e.target)).not.toContain(
      "shop_api_1_node1",
    );
    const onlyZero = { ...weighted, backends: [{ container: "api", port: 8080, weight: 0 }] };
    const [none] = plan([onlyZero], []).actions;
    expect(none).toMatchObject({ rules: { endpoints: [] }, reason: "10.0.0.10:443 wrr → 0 backends" });
  });

  it("names Ready matches without an address in the action", () => {
    const spec = balancerSpec("front", { backends: [{ container: "worker", port: 80, weight: 1 }] });
    const input = {
      node: NODE,
      stack: STACK,
      entries: { front: { spec, replicas: [1] } },
      observed: [],
      inventory: {},
      prune: false,
      peers: { container: [container("worker", 1, undefined)] },
    };
    expect(planBalancers(input).actions).toMatchObject([
      { type: "ensure", unreachable: ["shop_worker_1_node1"], rules: { endpoints: [] } },
    ]);
  });

  it("keeps its leaving backends in the dispatch while no replacement is Ready, and only then", () => {
    const spec = balancerSpec("front", { backends: [{ container: "web", port: 80, weight: 1 }] });
    const old = container("web", 2, "172.17.0.3");
    const starting = container("web", 1, "172.17.0.4", { health: "starting" });
    const input = (peers: ObservedContainer[]) => ({
      node: NODE,
      stack: STACK,
      entries: { front: { spec, replicas: [1] } },
      observed: [],
      inventory: {},
      prune: false,
      peers: { container: peers },
      leaving: { container: [old] },
    });
    expect(planBalancers(input([starting])).actions).toMatchObject([
      { type: "ensure", rules: { endpoints: [{ address: "172.17.0.3", port: 80 }] } },
    ]);
    const ready = { ...starting, health: "healthy" as const };
    expect(planBalancers(input([ready])).actions).toMatchObject([
      { type: "ensure", rules: { endpoints: [{ address: "172.17.0.4", port: 80 }] } },
    ]);
  });

  it("removes the rules of a balancer now placed on another node", () => {
    const current = observedBalancer("front", heldRules);
    expect(plan([weighted], [current], { elsewhere: ["front"] })).toEqual({
      actions: [
        {
          kind: "balancer",
          node: NODE,
          stack: STACK,
          replica: 1,
          type: "remove",
          resource: "front",
          current,
          reason: "placed on another node",
        },
      ],
      notes: [],
      unchanged: 0,
    });
    expect(plan([weighted], [], { elsewhere: ["front"] }).actions).toEqual([]);
  });

  it("removes a balancer that left the manifests only with prune and when this node applied it", () => {
    const current = observedBalancer("old", heldRules);
    const pruned = plan([], [current], { prune: true, inventory: { old: { replicas: [1] } } });
    expect(pruned).toEqual({
      actions: [
        {
          kind: "balancer",
          node: NODE,
          stack: STACK,
          replica: 1,
          type: "remove",
          resource: "old",
          current,
          reason: "left the manifests",
        },
      ],
      notes: [],
      unchanged: 0,
    });

    const kept = plan([], [current], { inventory: { old: { replicas: [1] } } });
    expect(kept.actions).toEqual([]);
    expect(kept.notes).toEqual([
      {
        kind: "balancer",
        node: NODE,
        resource: "old",
        verb: "kept",
        target: "balancer old",
        reason: "no longer declared; run with --prune to remove it",
      },
    ]);

    const unrecorded = plan([], [current], { prune: true });
    expect(unrecorded.actions).toEqual([]);
    expect(unrecorded.notes).toMatchObject([
      { verb: "kept", reason: "not in this node's record of applied resources, so not pruned" },
    ]);
  });

  it("moves a balancer forced to ipvs off nftables even when its rules are the same", () => {
    const current = observedBalancer("front", heldRules, { backend: "nftables" });
    expect(plan([{ ...weighted, backend: "ipvs" }], [current]).actions).toMatchObject([
      { type: "ensure", current },
    ]);
    expect(plan([{ ...weighted, backend: "nftables" }], [current]).unchanged).toBe(1);
    expect(plan([{ ...weighted, backend: "auto" }], [current]).unchanged).toBe(1);
    const onIpvs = observedBalancer("front", heldRules, { backend: "ipvs" });
    expect(plan([{ ...weighted, backend: "nftables" }], [onIpvs]).actions).toMatchObject([
      { type: "ensure", current: onIpvs },
    ]);
  });

  it("plans only the resource it is asked for", () => {
    const other = balancerSpec("other", { address: "10.0.0.11" });
    const gone = observedBalancer("gone", heldRules);
    const result = plan([weighted, other], [gone], {
      only: "other",
      prune: true,
      inventory: { gone: { replicas: [1] } },
    });
    expect(result.actions.map((a) => `${a.type} ${a.resource}`)).toEqual(["ensure other"]);
    expect(result.notes).toEqual([]);
    expect(
      plan([weighted], [gone], { only: "gone", prune: true, inventory: { gone: { replicas: [1] } } }).actions,
    ).toMatchObject([{ type: "remove", resource: "gone" }]);
  });

  it("acts on a balancer while the kernel still holds a drained endpoint, so it can be deleted", () => {
    const current = observedBalancer("front", heldRules, {
      backend: "ipvs",
      draining: [{ address: "172.17.0.4", port: 80, since: "2026-01-01T00:00:00.000Z", connections: 0 }],
    });
    expect(plan([weighted], [current]).actions).toMatchObject([{ type: "ensure", current }]);
  });
});

describe("balancerReadiness", () => {
  const entry: SliceEntry<BalancerSpec> = { spec: weighted, replicas: [1] };

  it("is Ready when the kernel holds the planned endpoints", () => {
    expect(balancerReadiness(entry, [observedBalancer("front", heldRules)], STACK, webs)).toEqual({
      condition: "Ready",
      reason: "Balancing",
      message: "10.0.0.10:443 wrr → 3 backends (nftables)",
      ready: 1,
    });
  });

  it("is Stalled with NoBackends when no container matches the backends", () => {
    const held = observedBalancer("front", rules());
    expect(balancerReadiness(entry, [held], STACK, [container("other", 1, "172.17.0.5")])).toEqual({
      condition: "Stalled",
      reason: "NoBackends",
      message: "no running container matches its backends",
      ready: 0,
    });
  });

  it("is Reconciling while matching containers exist but none is Ready", () => {
    const held = observedBalancer("front", rules());
    const starting = [
      container("web", 1, "172.17.0.2", { health: "starting" }),
      container("web", 2, undefined, { state: "created" }),
    ];
    expect(balancerReadiness(entry, [held], STACK, starting)).toEqual({
      condition: "Reconciling",
      reason: "WaitingForBackends",
      message: "2 matching, none Ready yet",
      ready: 0,
      recheckAfterMs: 500,
    });
  });

  it("is Reconciling with Programming while the kernel does not hold the desired rules", () => {
    const programming = {
      condition: "Reconciling",
      reason: "Programming",
      message: "rules not in place yet",
      ready: 0,
      recheckAfterMs: 500,
    };
    expect(balancerReadiness(entry, [], STACK, webs)).toEqual(programming);
    const stale = observedBalancer("front", { ...heldRules, endpoints: heldRules.endpoints.slice(1) });
    expect(balancerReadiness(entry, [stale], STACK, webs)).toEqual(programming);
  });

  it("is Ready with nothing to do here for a balancer placed on another node", () => {
    expect(balancerReadiness({ spec: weighted, replicas: [] }, [], STACK, webs)).toMatchObject({
      condition: "Ready",
      reason: "PlacedElsewhere",
      ready: 0,
    });
  });
});

describe("balancer — holding containers that leave", () => {
  const spec = balancerSpec("front", { drainTimeoutMs: 10_000 });
  const entries = { front: { spec, replicas: [1] } };
  const leaving = [container("web", 1, "172.17.0.2")];

  it("holds for the whole drain time while the container is still in the dispatch", () => {
    const held = observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.2", 80)] }));
    expect(balancerHolding(leaving, [held], entries)).toBe(10_000);
  });

  it("holds for what is left of the drain time while its connections go on, and lets go when they end", () => {
    const draining = (connections: number, elapsedMs: number) =>
      observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.3", 80)] }), {
        draining: [{ address: "172.17.0.2", port: 80, since: "", connections, elapsedMs }],
      });
    expect(balancerHolding(leaving, [draining(3, 4_000)], entries)).toBe(6_000);
    expect(balancerHolding(leaving, [draining(0, 4_000)], entries)).toBe(0);
    expect(balancerHolding(leaving, [draining(3, 12_000)], entries)).toBe(0);
  });

  it("holds the last backend leaving for as long as the plan keeps it in the dispatch, not an emptied one", () => {
    const kept = observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.2", 80)] }));
    expect(balancerHolding(leaving, [kept], entries)).toBe(10_000);
    const replaced = observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.7", 80)] }));
    expect(balancerHolding(leaving, [replaced], entries)).toBe(0);
    // Holding a container the dispatch does not send to would serve no connection.
    const emptied = observedBalancer("front", rules({ endpoints: [] }));
    expect(balancerHolding(leaving, [emptied], entries)).toBe(0);
  });

  it("does not hold containers it does not send to, nor for services not in its slice", () => {
    const held = observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.3", 80)] }));
    expect(balancerHolding(leaving, [held], entries)).toBe(0);
    const other = observedBalancer("other", rules({ endpoints: [endpoint("172.17.0.2", 80)] }));
    expect(balancerHolding(leaving, [other], entries)).toBe(0);
  });
});
