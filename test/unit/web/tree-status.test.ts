// The page's reading of the tree: who is up, down or unreachable, from answers and link events.
import { describe, expect, it } from "vitest";
import type { ChildLink, NodeState } from "../../../src/model/wire.js";
import { keepIdentity } from "../../../src/web/fleet-store.js";
import { StatsHistory } from "../../../src/web/stats-history.js";
import { type LinkEvent, lastFailure, type NodeDown, treeRows } from "../../../src/web/tree-status.js";

function state(node: string, parent?: string, children: ChildLink[] = []): NodeState {
  return {
    node,
    tags: [],
    ...(parent ? { parent } : {}),
    children,
    observed: { container: { synced: true, items: [] } },
    stacks: {},
  };
}

const up = (node: string): ChildLink => ({ node, status: "up", since: "2026-01-01T00:00:00.000Z" });
const down: NodeDown = {
  node: "c2",
  parent: "root",
  reason: "closed",
  message: "connection closed",
  detectionMs: 12,
  at: "2026-01-01T00:00:05.000Z",
};

function input(options: {
  answered: NodeState[];
  lastKnown?: NodeState[];
  links?: [string, LinkEvent & { receivedAt: number }][];
  gatheredAt?: number;
}) {
  return {
    answered: new Map(options.answered.map((s) => [s.node, s])),
    lastKnown: new Map((options.lastKnown ?? options.answered).map((s) => [s.node, s])),
    links: new Map(options.links ?? []),
    gatheredAt: options.gatheredAt ?? 0,
  };
}

describe("treeRows", () => {
  const root = state("root", undefined, [up("c1"), up("c2")]);
  const c1 = state("c1", "root", [up("leaf")]);
  const c2 = state("c2", "root");
  const leaf = state("leaf", "c1");

  it("lists parents before children, all up when all answered", () => {
    const rows = treeRows(input({ answered: [leaf, c2, root, c1] }));
    expect(rows.map((r) => [r.name, r.depth, r.health])).toEqual([
      ["root", 0, "up"],
      ["c1", 1, "up"],
      ["leaf", 2, "up"],
      ["c2", 1, "up"],
    ]);
  });

  it("marks a node down on node.down received after the gather, and its subtree unreachable", () => {
    const rows = treeRows(
      input({
        answered: [root, c2, leaf],
        lastKnown: [root, c1, c2, leaf],
        links: [["c1", { kind: "down", event: { ...down, node: "c1" }, receivedAt: 10 }]],
        gatheredAt: 5,
      }),
    );
    const byName = new Map(rows.map((r) => [r.name, r]));
    expect(byName.get("c1")?.health).toBe("down");
    expect(byName.get("c1")?.detail).toMatch(/detected in 12 ms/);
    // leaf answered in this gather, which began before c1 went down: still up by that answer.
    expect(byName.get("leaf")?.health).toBe("up");
    const later = treeRows(
      input({
        answered: [root, c2],
        lastKnown: [root, c1, c2, leaf],
        links: [["c1", { kind: "down", event: { ...down, node: "c1" }, receivedAt: 10 }]],
        gatheredAt: 20,
      }),
    );
    expect(later.find((r) => r.name === "leaf")).toMatchObject({
      health: "unreachable",
      detail: "unreachable: below c1, which is down",
    });
    // The last answer stays, so the page shows its containers as last seen, not an empty list.
    expect(later.find((r) => r.name === "leaf")?.state).toBe(leaf);
  });

  it("takes a down child from its parent's answer when no event was heard", () => {
    const parent = state("root", undefined, [{ node: "c2", status: "down", since: "T", reason: "closed" }]);
    const rows = treeRows(input({ answered: [parent] }));
    expect(rows.find((r) => r.name === "c2")).toMatchObject({
      health: "down",
      detail: "down since T (closed)",
    });
  });

  it("says a node that answers but cannot see its engine is blind", () => {
    const blind = { ...c2, observed: { container: { synced: false, error: "engine timeout", items: [] } } };
    const rows = treeRows(input({ answered: [root, c1, blind, leaf] }));
    expect(rows.find((r) => r.name === "c2")).toMatchObject({
      health: "blind",
      detail: "cannot see container: engine timeout",
    });
  });

  it("an answer after the node.down supersedes it (the node came back)", () => {
    const rows = treeRows(
      input({
        answered: [root, c1, c2, leaf],
        links: [["c2", { kind: "down", event: down, receivedAt: 10 }]],
        gatheredAt: 20,
      }),
    );
    expect(rows.find((r) => r.name === "c2")?.health).toBe("up");
  });

  it("lastFailure is the latest node.down heard", () => {
    const links = new Map<string, LinkEvent & { receivedAt: number }>([
      ["c1", { kind: "down", event: { ...down, node: "c1" }, receivedAt: 1 }],
      ["c2", { kind: "down", event: down, receivedAt: 2 }],
    ]);
    expect(lastFailure(links)).toEqual(down);
    expect(lastFailure(new Map())).toBeUndefined();
  });
});

describe("keepIdentity", () => {
  const a = { id: "a", name: "x_a", state: "running" } as never;
  const b = { id: "b", name: "x_b", state: "running" } as never;

  it("returns the previous list when nothing changed, so no row re-renders", () => {
    const previous = [a, b];
    expect(keepIdentity(previous, [{ ...(a as object) }, { ...(b as object) }] as never)).toBe(previous);
  });

  it("keeps unchanged containers' objects and takes changed ones", () => {
    const changed = { ...(b as object), state: "exited" } as never;
    const next = keepIdentity([a, b], [{ ...(a as object) } as never, changed]);
    expect(next[0]).toBe(a);
    expect(next[1]).toBe(changed);
  });
});

describe("StatsHistory", () => {
  const sample = (at: string, cpu: number) => ({
    node: "n",
    at,
    containers: [
      {
        id: "1",
        name: "s_web_1_n",
        stack: "s",
        resource: "web",
        replica: 1,
        cpuPercent: cpu,
        memoryBytes: 10,
        memoryLimitBytes: null,
        netRxBytes: 1,
        netTxBytes: 2,
        blockReadBytes: null,
        blockWriteBytes: null,
      },
    ],
  });

  it("keeps the last samples as uPlot columns, a new object per change, bounded", () => {
    const history = new StatsHistory(2);
    expect(history.add(sample("2026-01-01T00:00:01Z", 1))).toEqual(["s_web_1_n"]);
    const first = history.of("s_web_1_n");
    history.add(sample("2026-01-01T00:00:02Z", 2));
    history.add(sample("2026-01-01T00:00:03Z", 3));
    const last = history.of("s_web_1_n")!;
    expect(last).not.toBe(first);
    expect(last.series.cpuPercent).toEqual([2, 3]);
    expect(last.times).toEqual([
      Date.parse("2026-01-01T00:00:02Z") / 1000,
      Date.parse("2026-01-01T00:00:03Z") / 1000,
    ]);
    expect(last.latest.cpuPercent).toBe(3);
    expect(history.of("other")).toBeUndefined();
  });
});
