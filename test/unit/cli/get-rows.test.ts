import { describe, expect, it } from "vitest";
import type { NodeState } from "../../../src/agent/status.js";
import { engineRows, treeRows } from "../../../src/cli/get-rows.js";
import type { ServerSpec } from "../../../src/model/resources.js";
import { nodeState } from "../../support/node-state.js";
import { running, spec } from "../plan/fixtures.js";

function state(node: string, overrides: Partial<NodeState> = {}): NodeState {
  return nodeState(node, {
    generation: 3,
    slice: { generation: 3, prune: false, containers: {} },
    ...overrides,
  });
}

const server = (name: string, childs: string[] = []): ServerSpec => ({
  name,
  ip: "127.0.0.1",
  servicePort: 7000,
  tags: [],
  groups: [],
  childs,
});

describe("get rows", () => {
  const web = spec("web");
  const states = [
    state("root", { children: [{ node: "c2", status: "down", since: "t0", reason: "heartbeat_timeout" }] }),
    state("c1", { parent: "root", tags: ["web"], containers: [running("c1", web, 1)] }),
  ];

  it("nodes: every node that answered, and the ones that did not, with why", () => {
    expect(treeRows("nodes", states, [server("root", ["c1", "c3"]), server("c1"), server("c3")])).toEqual([
      { name: "c1", status: "Ready", parent: "root", tags: "web", containers: 1, generation: 3 },
      {
        name: "c2",
        status: "Unreachable (down since t0: heartbeat_timeout)",
        parent: "?",
        tags: "?",
        containers: "?",
        generation: "?",
      },
      {
        name: "c3",
        status: "Unreachable (did not answer)",
        parent: "?",
        tags: "?",
        containers: "?",
        generation: "?",
      },
      { name: "root", status: "Ready", parent: "-", tags: "-", containers: 0, generation: 3 },
    ]);
  });

  it("links: live edges, declared edges waiting for their child, and lost children", () => {
    expect(
      treeRows("links", states, [server("root", ["c3"]), server("c1"), server("other", ["c1"])]),
    ).toEqual([
      { parent: "root", child: "c1", status: "Connected (declared under other)" },
      { parent: "root", child: "c2", status: "Down since t0 (heartbeat_timeout)" },
      { parent: "root", child: "c3", status: "Pending (child not running)" },
    ]);
  });

  it("status from the engine: Ready when every recorded replica runs, NotRunning otherwise", () => {
    const api = spec("api");
    const rows = engineRows(
      "status",
      "local",
      [running("local", web, 1), running("local", api, 1, "exited")],
      {
        generation: 4,
        appliedAt: "",
        inventory: { web: { replicas: [1] }, api: { replicas: [1] } },
      },
    );
    expect(rows).toEqual([
      {
        node: "local",
        resource: "api",
        condition: "Reconciling",
        reason: "NotRunning",
        ready: "0/1",
        generation: 4,
        message: "0/1 replicas running",
      },
      {
        node: "local",
        resource: "web",
        condition: "Ready",
        reason: "Converged",
        ready: "1/1",
        generation: 4,
        message: "1/1 replicas running",
      },
    ]);
  });
});
