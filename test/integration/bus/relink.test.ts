// Failure of an inner node, with real `treescale node` processes: root → mid → two leaves. When mid is
// killed, the leaves link to the grandparent mid named when they linked, so a subscriber on a leaf keeps
// receiving the root's events; when mid returns, the leaves move back under it. node.up / node.down say
// what happened and nothing else.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, inbox, type NodeProcess, sync, until } from "../../support/bus.js";

const fixture = new BusFixture();
let root: NodeProcess;
let mid: NodeProcess;
let leaves: NodeProcess[];

async function parentOf(node: NodeProcess): Promise<string | null> {
  const health = (await (await fetch(`http://127.0.0.1:${node.http}/healthz`)).json()) as {
    parent: string | null;
  };
  return health.parent;
}

beforeAll(async () => {
  await fixture.setup();
  root = await fixture.startNode("root", ["--http", "127.0.0.1:0"]);
  mid = await fixture.startNode("mid", ["--parent", root.url]);
  await root.waitForLog(/child node linked node="mid"/);
  leaves = await Promise.all(
    ["leaf-1", "leaf-2"].map((name) =>
      fixture.startNode(name, ["--parent", mid.url, "--http", "127.0.0.1:0"]),
    ),
  );
  await Promise.all([
    mid.waitForLog(/child node linked node="leaf-1"/),
    mid.waitForLog(/child node linked node="leaf-2"/),
  ]);
});

afterAll(() => fixture.teardown());

describe("bus tree — an inner node dies", () => {
  it("re-links its children to the grandparent within seconds and moves them back when it returns", async () => {
    const subscriber = inbox(await fixture.client(leaves[0]!, { events: ["tick", "sync"] }));
    const watcher = inbox(await fixture.client(root, { events: ["node.up", "node.down"] }));
    const publisher = await fixture.client(root, { events: [] });
    await sync(publisher, [subscriber]);
    expect(await Promise.all(leaves.map(parentOf))).toEqual(["mid", "mid"]);

    // The root publishes a numbered tick every 50 ms throughout.
    let sequence = 0;
    const ticker = setInterval(() => publisher.publish("tick", String(++sequence)), 50);
    const received: number[] = [];
    const seen = (after: number) => received.some((value) => value > after);
    const drain = async () => {
      for (;;) {
        const message = await subscriber.next(60_000).catch(() => undefined);
        if (!message) return;
        if (message.event === "tick") received.push(Number(message.text()));
      }
    };
    void drain();
    try {
      await until(() => received.length > 0, 5000, "ticks before the failure");

      const port = mid.port;
      await mid.stop();
      const killedAt = Date.now();
      const lastBefore = sequence;
      // Seconds, not the heartbeats the bench measures: the suite runs on a loaded 2-CPU machine.
      await until(() => seen(lastBefore), 10_000, "root events on the leaf after mid was killed");
      const resumedMs = Date.now() - killedAt;
      await until(
        async () => (await Promise.all(leaves.map(parentOf))).every((parent) => parent === "root"),
        10_000,
        "both leaves under the root",
      );

      mid = await fixture.startNode("mid", ["--parent", root.url], port);
      // The configured parent is retried in the background (backoff capped at 5 s by default).
      await until(
        async () => (await Promise.all(leaves.map(parentOf))).every((parent) => parent === "mid"),
        30_000,
        "both leaves back under mid",
      );
      const movedBack = sequence;
      await until(() => seen(movedBack), 10_000, "root events on the leaf after moving back");

      // No tick was delivered twice: at no moment did the leaf hold two links up the tree.
      expect(new Set(received).size).toBe(received.length);
      const events = watcher.messages.map((message) => ({ event: message.event, ...message.json<object>() }));
      // Truthful events: mid went down and came back; the leaves came up under root, then under mid, and
      // were never reported down (they never were).
      expect(events).toContainEqual(
        expect.objectContaining({ event: "node.down", node: "mid", parent: "root" }),
      );
      expect(events).toContainEqual(
        expect.objectContaining({ event: "node.up", node: "mid", parent: "root" }),
      );
      for (const leaf of ["leaf-1", "leaf-2"]) {
        expect(events).toContainEqual(
          expect.objectContaining({ event: "node.up", node: leaf, parent: "root" }),
        );
        expect(events).toContainEqual(
          expect.objectContaining({ event: "node.up", node: leaf, parent: "mid" }),
        );
        expect(
          events.filter((event) => event.event === "node.down" && "node" in event && event.node === leaf),
        ).toEqual([]);
      }
      await root.waitForLog(/child node moved away node="leaf-1"/);
      expect(resumedMs).toBeLessThan(10_000);
    } finally {
      clearInterval(ticker);
    }
  });
});
