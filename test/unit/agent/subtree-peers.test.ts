import { describe, expect, it } from "vitest";
import { SubtreePeers } from "../../../src/agent/subtree-peers.js";
import type { Message } from "../../../src/bus/message.js";
import { AGENT_EVENTS, type ObjectsAnnouncement } from "../../../src/model/wire.js";
import type { NodeController, ObservedObject } from "../../../src/reconcile/controller.js";
import { FakeClock } from "../../support/fake-clock.js";

const consumer = { kind: "front", dependsOn: ["backend"], peersFromBelow: true } as unknown as NodeController;
const plain = { kind: "backend" } as unknown as NodeController;

function message(event: string, payload: unknown, origin: string): Message {
  return { event, origin, json: () => payload } as unknown as Message;
}

function setup(node: string, controllers: NodeController[], items: ObservedObject[] = []) {
  const clock = new FakeClock();
  const published: { event: string; payload: unknown }[] = [];
  const handlers = new Map<string, (message: Message) => void>();
  const changed: string[][] = [];
  const peers = new SubtreePeers({
    node,
    controllers,
    bus: {
      publish: (event, payload) => published.push({ event, payload: JSON.parse(payload ?? "null") }),
      subscribe: (event, handler) => {
        handlers.set(event, handler);
        return () => handlers.delete(event);
      },
    },
    clock,
    parent: () => "root",
    address: () => "192.168.50.2",
    items: () => items,
    changed: (kinds) => changed.push([...kinds]),
    log: () => {},
  });
  const hear = (announcement: ObjectsAnnouncement, origin = announcement.node) =>
    handlers.get(AGENT_EVENTS.objects)?.(message(AGENT_EVENTS.objects, announcement, origin));
  return { clock, published, handlers, changed, peers, hear };
}

const item = (resource: string): ObservedObject => ({ stack: "s", resource, replica: 1, id: resource });

describe("agent — objects of the nodes below", () => {
  it("announces its objects of the kinds planned from below, coalesced, with its parent and address", async () => {
    const { clock, published, peers } = setup("leaf", [plain, consumer], [item("web")]);
    peers.start();
    peers.listen(true);
    peers.changed("backend");
    peers.changed("backend");
    peers.changed("front");
    await clock.advance(200);
    const announcements = published.filter((p) => p.event === AGENT_EVENTS.objects);
    expect(announcements).toEqual([
      {
        event: AGENT_EVENTS.objects,
        payload: { node: "leaf", parent: "root", address: "192.168.50.2", kinds: { backend: [item("web")] } },
      },
    ]);
    // Asked for everyone's on start, and announced again on the beat even without a change.
    expect(published[0]?.event).toBe(AGENT_EVENTS.objectsWanted);
    await clock.advance(10_000);
    expect(published.filter((p) => p.event === AGENT_EVENTS.objects)).toHaveLength(2);
    peers.stop();
  });

  it("keeps its own subtree only, trusts a node only for itself, and forgets a node that went down or silent", async () => {
    const { clock, peers, hear, handlers, changed } = setup("mid", [plain, consumer]);
    peers.start();
    peers.listen(true);
    const announce = (node: string, parent: string, resource: string): ObjectsAnnouncement => ({
      node,
      parent,
      address: `addr-${node}`,
      kinds: { backend: [item(resource)] },
    });
    hear(announce("child", "mid", "a"));
    hear(announce("grandchild", "child", "b"));
    hear(announce("sibling", "root", "c"));
    hear(announce("impostor", "mid", "d"), "child");
    expect(
      peers.below("backend").map((p) => `${p.node}@${p.address}:${p.items.map((i) => i.resource)}`),
    ).toEqual(["child@addr-child:a", "grandchild@addr-grandchild:b"]);
    expect(changed.length).toBe(3);

    handlers.get("node.down")?.(message("node.down", { node: "grandchild" }, "child"));
    expect(peers.below("backend").map((p) => p.node)).toEqual(["child"]);

    await clock.advance(36_000);
    expect(peers.below("backend")).toEqual([]);

    // No balancer here any more: it stops listening (and forgets).
    hear(announce("child", "mid", "a"));
    peers.listen(false);
    expect(handlers.has(AGENT_EVENTS.objects)).toBe(false);
    expect(peers.below("backend")).toEqual([]);
    peers.stop();
  });

  it("a node where nothing plans from below neither listens nor announces", () => {
    const { published, handlers, peers } = setup("leaf", [plain]);
    peers.start();
    peers.listen(true);
    peers.changed("backend");
    expect(published).toEqual([]);
    expect(handlers.size).toBe(0);
  });
});
