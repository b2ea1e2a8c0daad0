// Routing between clients of one node, and across a node link, over in-memory connections: by event and
// target, each receiver at most once, request/reply and the node's own no-responders reply.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BusClient, Message } from "../../../src/bus/client/index.js";
import { type BusServer, NoRespondersError } from "../../../src/bus/server/index.js";
import { inbox } from "../../support/bus.js";
import { MemoryBus } from "../../support/memory-bus.js";

let bus: MemoryBus;
beforeEach(() => {
  bus = new MemoryBus();
});
afterEach(() => bus.teardown());

/**
 * Publishes a marker after the messages under test and waits for `receiver` to get it: one publisher's
 * messages reach a receiver in order, so whatever it has not got by then, it will never get.
 */
async function drained(publisher: BusClient, receiver: ReturnType<typeof inbox>): Promise<Message[]> {
  publisher.publish("marker", "end");
  const seen: Message[] = [];
  for (;;) {
    const message = await receiver.next();
    if (message.event === "marker") return seen;
    seen.push(message);
  }
}

describe("router — publish", () => {
  it("delivers a publish to every client that declared its event, and never back to its publisher", async () => {
    const node = bus.node("n1");
    const deploys = inbox(await bus.client(node, { events: ["deploy", "marker"] }));
    const everything = inbox(await bus.client(node, { events: ["*"] }));
    const other = inbox(await bus.client(node, { events: ["unrelated", "marker"] }));
    const publisher = await bus.client(node, { events: ["deploy", "marker"] });
    const own = inbox(publisher);

    publisher.publish("deploy", '{"v":2}');
    const received = await deploys.next();
    expect(received.json()).toEqual({ v: 2 });
    expect(received.origin).toBe("n1");
    expect((await everything.next()).event).toBe("deploy");
    expect(await drained(publisher, other)).toEqual([]);
    const someoneElse = await bus.client(node);
    expect(await drained(someoneElse, own)).toEqual([]);
  });

  it("narrows delivery by tag, group, channel and node, each given field required of the receiver", async () => {
    const node = bus.node("n1");
    const web = inbox(
      await bus.client(node, { events: ["deploy", "marker"], tags: ["web"], groups: ["blue"] }),
    );
    const db = inbox(
      await bus.client(node, { events: ["deploy", "marker"], tags: ["db"], channels: ["ops"] }),
    );
    const publisher = await bus.client(node);

    publisher.publish("deploy", "tag", { tag: "web" });
    publisher.publish("deploy", "group", { group: "blue" });
    publisher.publish("deploy", "channel", { channel: "ops" });
    publisher.publish("deploy", "both", { tag: "web", group: "green" });
    publisher.publish("deploy", "node", { node: "n1", tag: "db" });
    publisher.publish("deploy", "elsewhere", { node: "n2" });

    const toWeb = await drained(publisher, web);
    expect(toWeb.map((message) => message.text())).toEqual(["tag", "group"]);
    expect(toWeb[0]!.target).toEqual({ tag: "web" });
    const toDb = await drained(publisher, db);
    expect(toDb.map((message) => message.text())).toEqual(["channel", "node"]);
    expect(node.metrics.unrouted).toBe(2);
  });

  it("delivers once to a client that declared both the event and *", async () => {
    const node = bus.node("n1");
    const both = inbox(await bus.client(node, { events: ["deploy", "*"] }));
    const publisher = await bus.client(node);
    publisher.publish("deploy", "once");
    expect((await drained(publisher, both)).map((message) => message.text())).toEqual(["once"]);
  });

  it("follows a client's new declaration after subscribe()", async () => {
    const node = bus.node("n1");
    const subscriber = await bus.client(node, { events: ["old", "marker"] });
    const received = inbox(subscriber);
    await subscriber.subscribe({ events: ["new", "marker"] });
    const publisher = await bus.client(node);
    publisher.publish("old", "dropped");
    publisher.publish("new", "kept");
    expect((await drained(publisher, received)).map((message) => message.text())).toEqual(["kept"]);
  });

  it("reaches in-process subscribers of the node, which receive with the node's tags", async () => {
    const node = bus.node("n1", { tags: ["web"] });
    const seen: string[] = [];
    node.subscribe("deploy", (message) => seen.push(message.text()));
    const publisher = await bus.client(node);
    publisher.publish("deploy", "to web", { tag: "web" });
    publisher.publish("deploy", "to db", { tag: "db" });
    const listener = inbox(await bus.client(node, { events: ["marker"] }));
    await drained(publisher, listener);
    expect(seen).toEqual(["to web"]);
  });
});

describe("router — request and reply", () => {
  it("routes a request to a responding client and its reply back to the requester only", async () => {
    const node = bus.node("n1");
    const responder = await bus.client(node, { events: ["status"], tags: ["web"] });
    responder.onMessage((message) =>
      message.reply?.(JSON.stringify({ from: "responder", got: message.text() })),
    );
    const bystander = inbox(await bus.client(node, { events: ["marker"] }));
    const requester = await bus.client(node);

    const answer = await requester.request("status", { tag: "web" }, "ping", 2000);
    expect(answer.json()).toEqual({ from: "responder", got: "ping" });
    expect(answer.origin).toBe("n1");
    expect(await drained(requester, bystander)).toEqual([]);
  });

  it("gathers one reply from each responder with requestMany", async () => {
    const node = bus.node("n1");
    for (const name of ["a", "b", "c"]) {
      const responder = await bus.client(node, { events: ["who"], groups: ["all"] });
      responder.onMessage((message) => message.reply?.(name));
    }
    const requester = await bus.client(node);
    const replies = await requester.requestMany("who", { group: "all" }, undefined, 2000, 3);
    expect(replies.map((reply) => reply.text()).sort()).toEqual(["a", "b", "c"]);
  });

  it("answers at once with no_responders when nothing matches the request", async () => {
    const node = bus.node("n1");
    await bus.client(node, { events: ["status"], tags: ["db"] });
    const requester = await bus.client(node);
    const started = Date.now();
    await expect(requester.request("status", { tag: "web" }, "", 5000)).rejects.toMatchObject({
      code: "no_responders",
    });
    await expect(node.request("nothing", {}, undefined, 5000)).rejects.toBeInstanceOf(NoRespondersError);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("lets a client answer the node's in-process request, and the node answer a client's", async () => {
    const node = bus.node("n1");
    const worker = await bus.client(node, { events: ["work"] });
    worker.onMessage((message) => message.reply?.(`done ${message.text()}`));
    expect((await node.request("work", {}, "job-1", 2000)).text()).toBe("done job-1");

    node.handle("time", () => "noon");
    const requester = await bus.client(node);
    expect((await requester.request("time", {}, undefined, 2000)).text()).toBe("noon");
  });
});

describe("router — across a node link", () => {
  it("forwards publishes and requests by the interest the child advertised, and replies back", async () => {
    const parent = bus.node("parent");
    const child = bus.node("child");
    await bus.link(parent, child);
    const worker = await bus.client(child, { events: ["deploy", "status", "marker"], tags: ["web"] });
    const received = inbox(worker);
    worker.onMessage((message) => {
      if (message.kind === "request") message.reply?.(`child saw ${message.text()}`);
    });
    const publisher = await bus.client(parent);
    // Interest reaches the parent in its own time: ask until the request finds the worker.
    let answer: Message | undefined;
    while (!answer) {
      answer = await publisher.request("status", { tag: "web" }, "hello", 2000).catch(() => undefined);
    }
    expect(answer.text()).toBe("child saw hello");
    expect(answer.origin).toBe("child");

    publisher.publish("deploy", "down the tree", { tag: "web" });
    publisher.publish("deploy", "to nobody", { tag: "db" });
    const delivered = (await drained(publisher, received)).filter((message) => message.kind === "publish");
    expect(delivered.map((message) => `${message.origin}:${message.text()}`)).toEqual([
      "parent:down the tree",
    ]);
  });
});

describe("router — a lost link", () => {
  /** Waits until `node` knows (or no longer knows) a subscriber of `event` somewhere in the tree. */
  async function until(node: BusServer, event: string, present: boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (node.interested(event) !== present) {
      if (Date.now() > deadline)
        throw new Error(`${node.name}: interest in ${event} never became ${present}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it("a subtree re-linking to its grandparent within the grace is never withdrawn from the rest of the tree", async () => {
    const root = bus.node("root");
    const side = bus.node("side");
    const mid = bus.node("mid");
    const leaf = bus.node("leaf");
    await bus.link(root, side);
    const cutMid = await bus.link(root, mid);
    const cutLeaf = await bus.link(mid, leaf);
    leaf.subscribe("tick", () => {});
    await until(side, "tick", true);
    const seenBySide: boolean[] = [];
    side.watchInterest("tick", (present) => seenBySide.push(present));

    // mid dies; leaf links to root (its grandparent) as ParentLink does.
    cutMid();
    cutLeaf();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await bus.link(root, leaf);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seenBySide).toEqual([]);

    // The dead node's own key is not held: a request to it fails at once, not after its timeout.
    const asked = Date.now();
    await expect(side.request("tick", { node: "mid" }, undefined, 4000)).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(Date.now() - asked).toBeLessThan(2000);
  });

  it("withdraws a dead link's keys after the grace when nothing re-links in its place", async () => {
    const root = bus.node("root", { heartbeatMs: 100 });
    const side = bus.node("side");
    const mid = bus.node("mid");
    const leaf = bus.node("leaf");
    await bus.link(root, side);
    const cutMid = await bus.link(root, mid);
    await bus.link(mid, leaf);
    leaf.subscribe("tick", () => {});
    await until(side, "tick", true);
    cutMid();
    // Held for 3 heartbeats of root's (300 ms), then withdrawn.
    await until(side, "tick", false);
  });

  it("withdraws a lost leaf's keys at once: nothing can re-link in its place", async () => {
    const root = bus.node("root", { heartbeatMs: 60_000 });
    const side = bus.node("side");
    const leaf = bus.node("leaf");
    await bus.link(root, side);
    const cutLeaf = await bus.link(root, leaf);
    leaf.subscribe("tick", () => {});
    await until(side, "tick", true);
    cutLeaf();
    await until(side, "tick", false);
  });
});

describe("router — memory", () => {
  it("forgets the events of clients that left: 100 clients, each its own event, and 50 redeclarations, leave nothing behind", async () => {
    const node = bus.node("n1");
    const before = node.gauges().subscribedEvents;
    for (let round = 0; round < 100; round++) {
      const client = await bus.client(node, { events: [`job.${round}`] });
      await client.close();
    }
    const redeclaring = await bus.client(node, { events: ["first"] });
    for (let round = 0; round < 50; round++) await redeclaring.subscribe({ events: [`next.${round}`] });
    await redeclaring.close();
    await waitFor(() => node.gauges().clients === 0);
    expect(node.gauges().subscribedEvents).toBe(before);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
