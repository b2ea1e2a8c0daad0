import { describe, expect, it } from "vitest";
import { objectRows, TREE_SHAPES, treeRows } from "../../../src/cli/get-rows.js";
import { render } from "../../../src/cli/row-output.js";
import { parseLabelSelector } from "../../../src/cli/selectors.js";
import type { ObservedContainer } from "../../../src/model/observed.js";
import type { ContainerSpec, ServerSpec } from "../../../src/model/resources.js";
import type { NodeState, ResourceStatus } from "../../../src/model/wire.js";
import type { ServerRecord } from "../../../src/state/contexts.js";
import { nodeState, observation, stackState } from "../../support/node-state.js";
import { planningRegistry } from "../../support/registry.js";
import { running, STACK, spec } from "../controllers/container/fixtures.js";

const containers = planningRegistry().byNoun("containers")!;

function state(node: string, overrides: Partial<NodeState> = {}): NodeState {
  return nodeState(node, { stacks: { [STACK]: stackState(STACK, 3) }, ...overrides });
}

const server = (name: string, childs: string[] = []): ServerSpec => ({
  name,
  ip: "127.0.0.1",
  servicePort: 7000,
  tags: [],
  groups: [],
  childs,
});

/** The status a node's agent reports for a resource: the container kind's readiness of what it observed. */
function statusOf(
  node: string,
  generation: number,
  resource: ContainerSpec,
  replicas: number[],
  observed: readonly ObservedContainer[],
): ResourceStatus {
  const readiness = containers.readiness({ spec: resource, replicas }, observed);
  return {
    stack: STACK,
    resource: `container/${resource.name}`,
    node,
    condition: readiness.condition,
    reason: readiness.reason,
    message: readiness.message,
    observedGeneration: generation,
    desired: replicas.length,
    ready: readiness.ready,
    since: "",
  };
}

describe("get rows", () => {
  const web = spec("web");
  const states = [
    state("root", { children: [{ node: "c2", status: "down", since: "t0", reason: "heartbeat_timeout" }] }),
    state("c1", {
      parent: "root",
      tags: ["web"],
      observed: { container: observation([running("c1", web, 1)]) },
    }),
  ];

  it("nodes: every node that answered, and the ones that did not, with why", () => {
    expect(treeRows("nodes", states, [server("root", ["c1", "c3"]), server("c1"), server("c3")], {})).toEqual(
      [
        {
          name: "c1",
          status: "Ready",
          parent: "root",
          tags: ["web"],
          stacks: [STACK],
          objects: 1,
          address: null,
          children: [],
        },
        {
          name: "c2",
          status: "Unreachable (down since t0: heartbeat_timeout)",
          parent: null,
          tags: null,
          stacks: null,
          objects: null,
          address: null,
          children: null,
        },
        {
          name: "c3",
          status: "Unreachable (did not answer)",
          parent: null,
          tags: null,
          stacks: null,
          objects: null,
          address: null,
          children: null,
        },
        {
          name: "root",
          status: "Ready",
          parent: null,
          tags: [],
          stacks: [STACK],
          objects: 0,
          address: null,
          children: ["c2"],
        },
      ],
    );
  });

  it("links: live edges, declared edges waiting for their child, and lost children", () => {
    expect(
      treeRows("links", states, [server("root", ["c3"]), server("c1"), server("other", ["c1"])], {}),
    ).toEqual([
      { parent: "root", child: "c1", status: "Connected (declared under other)", since: null },
      { parent: "root", child: "c2", status: "Down since t0 (heartbeat_timeout)", since: "t0" },
      { parent: "root", child: "c3", status: "Pending (child not running)", since: null },
    ]);
  });

  it("status as the node's agent reports it: Ready when every replica it placed runs, Reconciling otherwise", () => {
    const api = spec("api");
    const seen = [running("local", web, 1), running("local", api, 1, "exited")];
    const local = state("local", {
      observed: { container: observation(seen) },
      stacks: {
        [STACK]: stackState(
          STACK,
          4,
          { "container/web": { spec: web, replicas: [1] }, "container/api": { spec: api, replicas: [1] } },
          { statuses: [statusOf("local", 4, web, [1], seen), statusOf("local", 4, api, [1], seen)] },
        ),
      },
    });
    expect(treeRows("status", [local], [], {})).toEqual([
      {
        node: "local",
        stack: STACK,
        resource: "container/api",
        condition: "Reconciling",
        reason: "WaitingForHealthy",
        ready: "0/1",
        generation: 4,
        message: "0/1 replicas running",
        since: "",
      },
      {
        node: "local",
        stack: STACK,
        resource: "container/web",
        condition: "Ready",
        reason: "Converged",
        ready: "1/1",
        generation: 4,
        message: "1/1 replicas running",
        since: "",
      },
    ]);
  });

  it("status: one stack or all, and a node that cannot see its engine or did not answer shown as such", () => {
    const ready = (stack: string) => ({ ...statusOf("c1", 2, web, [1], [running("c1", web, 1)]), stack });
    const both = state("c1", {
      stacks: {
        a: stackState("a", 2, {}, { statuses: [ready("a")] }),
        b: stackState("b", 2, {}, { statuses: [ready("b")] }),
      },
    });
    const blind = state("c2", {
      observed: { container: observation([], { synced: false, error: "engine down" }) },
    });
    const place = (rows: Record<string, unknown>[]) => rows.map((r) => [r.node, r.stack, r.reason]);
    expect(place(treeRows("status", [both, blind], [server("c3")], { stack: "b" }))).toEqual([
      ["c1", "b", "Converged"],
      ["c2", "b", "EngineUnreachable"],
      ["c3", "b", "NodeUnreachable"],
    ]);
    expect(place(treeRows("status", [both], [], {}))).toEqual([
      ["c1", "a", "Converged"],
      ["c1", "b", "Converged"],
    ]);
  });

  it("containers: the kind's rows of one stack or all, and nodes whose containers cannot be shown", () => {
    const c1 = state("c1", {
      observed: {
        container: observation([running("c1", web, 1), running("c1", web, 1, "running", "other")]),
      },
    });
    const blind = state("c2", { observed: { container: observation([], { synced: false }) } });
    const rows = (filter: { stack?: string }) =>
      objectRows(containers, [c1, blind], [server("c1"), server("c2"), server("c3")], filter).map((r) => [
        r.name,
        r.node,
        r.state,
      ]);
    expect(rows({ stack: STACK })).toEqual([
      ["shop_web_1_c1", "c1", "running"],
      ["?", "c3", "unknown (did not answer)"],
      ["?", "c2", "unknown (cannot see its objects: container: has not listed its objects yet)"],
    ]);
    expect(rows({}).slice(0, 2)).toEqual([
      ["other_web_1_c1", "c1", "running"],
      ["shop_web_1_c1", "c1", "running"],
    ]);
  });

  it("servers: where each stands in the tree, Docker and image as the last build found them, the node's version, parent, last build; typed, null where unknown; the table in words", async () => {
    const live = [
      state("root", {
        version: "0.1.0",
        children: [
          { node: "a", status: "up", since: "2026-11-29T00:00:01.000Z" },
          { node: "b", status: "down", since: "2026-11-29T00:00:02.000Z", reason: "heartbeat timeout" },
        ],
      }),
      // A node older than the version field answers without it.
      state("a", { parent: "root" }),
    ];
    const declared = [server("root", ["a", "b"]), server("a"), server("b")];
    const built: ServerRecord[] = [
      {
        name: "a",
        parent: "root",
        builtAt: "2026-11-29T00:00:00.000Z",
        ok: true,
        docker: "24.0.5",
        image: "treescale/node:0.1.0 aaaabbbbcccc",
      },
      {
        name: "b",
        parent: "root",
        builtAt: "2026-11-29T00:00:00.000Z",
        ok: false,
        failedStep: "connect",
        error: "cannot log in",
      },
      // Built once, no longer declared: still listed, from its record.
      { name: "old", parent: "b", builtAt: "2026-11-28T00:00:00.000Z", ok: false, failedStep: "join" },
    ];
    const rows = treeRows("servers", live, declared, {}, built);
    expect(rows).toEqual([
      {
        name: "a",
        tree: { joined: true, since: "2026-11-29T00:00:01.000Z", reason: null },
        docker: "24.0.5",
        image: "treescale/node:0.1.0 aaaabbbbcccc",
        node: null,
        parent: "root",
        lastBuild: { at: "2026-11-29T00:00:00.000Z", ok: true, failedStep: null, error: null },
      },
      {
        name: "b",
        tree: { joined: false, since: "2026-11-29T00:00:02.000Z", reason: "heartbeat timeout" },
        docker: null,
        image: null,
        node: null,
        parent: "root",
        lastBuild: {
          at: "2026-11-29T00:00:00.000Z",
          ok: false,
          failedStep: "connect",
          error: "cannot log in",
        },
      },
      {
        name: "old",
        tree: { joined: false, since: null, reason: null },
        docker: null,
        image: null,
        node: null,
        parent: "b",
        lastBuild: { at: "2026-11-28T00:00:00.000Z", ok: false, failedStep: "join", error: null },
      },
      {
        name: "root",
        tree: { joined: true, since: null, reason: null },
        docker: null,
        image: null,
        node: "0.1.0",
        parent: null,
        lastBuild: null,
      },
    ]);
    // The table says the same in words.
    const table = (await render(rows, "table", TREE_SHAPES.servers)).split("\n");
    expect(table[0]).toMatch(/^NAME\s+TREE\s+NODE\s+PARENT\s+LAST-BUILD$/);
    expect(table[1]).toMatch(/^a\s+in the tree\s+-\s+root\s+2026-11-29T00:00:00.000Z ok$/);
    expect(table[2]).toContain("not in the tree (down since 2026-11-29T00:00:02.000Z: heartbeat timeout)");
    expect(table[2]).toMatch(/2026-11-29T00:00:00.000Z failed at connect: cannot log in$/);
    expect(table[3]).toMatch(/not in the tree\s+-\s+b\s+2026-11-28T00:00:00.000Z failed at join$/);
    expect(table[4]).toMatch(/in the tree\s+0\.1\.0\s+-\s+never built$/);
  });

  it("containers: -l keeps the replicas whose labels match, --tag those on nodes carrying the tag", () => {
    const labelled = (replica: number, tier: string) => ({
      ...running("c1", web, replica),
      labels: { tier },
    });
    const c1 = state("c1", {
      tags: ["edge"],
      observed: { container: observation([labelled(1, "web"), labelled(2, "db")]) },
    });
    const c2 = state("c2", { observed: { container: observation([running("c2", web, 3)]) } });
    const names = (filter: Parameters<typeof objectRows>[3]) =>
      objectRows(containers, [c1, c2], [], filter).map((r) => r.name);
    expect(names({ labels: parseLabelSelector("tier=web") })).toEqual(["shop_web_1_c1"]);
    expect(names({ labels: parseLabelSelector("tier!=web") })).toEqual(["shop_web_2_c1", "shop_web_3_c2"]);
    expect(names({ labels: parseLabelSelector("!tier") })).toEqual(["shop_web_3_c2"]);
    expect(names({ tags: ["edge"] })).toEqual(["shop_web_1_c1", "shop_web_2_c1"]);
  });

  it("replica and node names sort by number: web-3 before web-27, node-2 before node-10", () => {
    const many = state("node-10", {
      observed: { container: observation([27, 3, 100].map((n) => running("node-10", web, n))) },
    });
    expect(objectRows(containers, [many], [], {}).map((r) => r.replica)).toEqual([3, 27, 100]);
    const nodes = treeRows("nodes", [state("node-10"), state("node-2")], [], {}).map((r) => r.name);
    expect(nodes).toEqual(["node-2", "node-10"]);
  });
});
