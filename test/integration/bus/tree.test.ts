// A three-level tree of real `treescale node` processes: routing by event, tag, group, channel and node,
// request/reply across the tree, WebSocket clients, and resubscription after the parent restarts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { WebSocketConstructor } from "../../../src/bus/client/index.js";
import { BusFixture, inbox, type NodeProcess, sync } from "../../support/bus.js";

const fixture = new BusFixture();
let root: NodeProcess;
let mid: NodeProcess;
let leaf: NodeProcess;
let side: NodeProcess;

beforeAll(async () => {
  await fixture.setup();
  ({ root, mid, side, leaf } = await fixture.startTree({
    root: ["--http", "127.0.0.1:0"],
    mid: ["--tag", "region-a"],
  }));
});

afterAll(() => fixture.teardown());

describe("bus tree — routing", () => {
  it("delivers by event, tag, group, channel and node, and nothing to non-members", async () => {
    const web = inbox(
      await fixture.client(leaf, { events: ["deploy", "sync"], tags: ["web"], groups: ["blue"] }),
    );
    const db = inbox(
      await fixture.client(side, { events: ["deploy", "sync"], tags: ["db"], channels: ["ops"] }),
    );
    const other = inbox(await fixture.client(leaf, { events: ["unrelated", "sync"] }));
    const publisher = await fixture.client(root, { events: [] });
    await sync(publisher, [web, db, other]);

    publisher.publish("deploy", '{"to":"all"}');
    expect((await web.next()).json()).toEqual({ to: "all" });
    expect((await db.next()).json()).toEqual({ to: "all" });

    publisher.publish("deploy", "tag", { tag: "web" });
    const tagged = await web.next();
    expect(tagged.text()).toBe("tag");
    expect(tagged.origin).toBe("root");
    expect(tagged.target).toEqual({ tag: "web" });

    publisher.publish("deploy", "group", { group: "blue" });
    expect((await web.next()).text()).toBe("group");
    publisher.publish("deploy", "channel", { channel: "ops" });
    expect((await db.next()).text()).toBe("channel");
    publisher.publish("deploy", "node", { node: "side" });
    expect((await db.next()).text()).toBe("node");
    publisher.publish("deploy", "nobody", { tag: "none" });

    // A final broadcast marks the end: everything before it has been routed.
    publisher.publish("deploy", "end");
    expect((await web.next()).text()).toBe("end");
    expect((await db.next()).text()).toBe("end");
    expect(web.messages).toEqual([]);
    expect(db.messages).toEqual([]);
    expect(other.messages).toEqual([]);
  });

  it("delivers a publish from a leaf up and across to another subtree, once per client", async () => {
    const a = inbox(await fixture.client(side, { events: ["up.across", "sync"] }));
    const b = inbox(await fixture.client(side, { events: ["up.across", "sync"] }));
    const publisher = await fixture.client(leaf, { events: [] });
    await sync(publisher, [a, b]);
    publisher.publish("up.across", "1");
    publisher.publish("up.across", "2");
    expect([(await a.next()).text(), (await a.next()).text()]).toEqual(["1", "2"]);
    expect([(await b.next()).text(), (await b.next()).text()]).toEqual(["1", "2"]);
  });

  it("answers a request across the tree with correlation ids, and says when nobody can answer", async () => {
    const responder = await fixture.client(leaf, { events: ["state.get", "sync"], tags: ["agent"] });
    responder.onMessage((message) =>
      message.reply?.(JSON.stringify({ node: responder.node, asked: message.text() })),
    );
    const asker = await fixture.client(side, { events: [] });
    const probe = inbox(responder);
    await sync(asker, [probe]);
    const replies = await Promise.all([
      asker.request("state.get", { node: "leaf" }, "one", 3000),
      asker.request("state.get", { tag: "agent" }, "two", 3000),
    ]);
    expect(replies.map((reply) => reply.json())).toEqual([
      { node: "leaf", asked: "one" },
      { node: "leaf", asked: "two" },
    ]);
    await expect(asker.request("state.get", { tag: "nobody-has-this" }, "", 3000)).rejects.toMatchObject({
      code: "no_responders",
    });
  });

  it("hands every payload over intact, and keeps it so while later reads arrive, across two links", async () => {
    // Links upward and TCP clients read into slabs (slab-reads.ts), and payloads are views of what was
    // read: a read buffer used twice would show here as an earlier payload overwritten by a later one.
    const subscriber = inbox(await fixture.client(leaf, { events: ["bulk", "sync"] }));
    const publisher = await fixture.client(root, { events: [] });
    await sync(publisher, [subscriber]);
    const sizes = Array.from({ length: 400 }, (_, i) => (i % 50 === 0 ? 70_000 + i : 1 + ((i * 37) % 3000)));
    // In bursts, so that most reads are small ones sharing a slab, and some frames span reads.
    for (let i = 0; i < sizes.length; i++) {
      publisher.publish("bulk", new Uint8Array(sizes[i]!).fill(i % 251));
      if (i % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const received: Uint8Array[] = [];
    for (const _ of sizes) received.push((await subscriber.next()).data);
    expect(received.map((data) => data.length)).toEqual(sizes);
    const damaged = received.findIndex((data, i) => data.some((byte) => byte !== i % 251));
    expect(damaged).toBe(-1);
  });

  it("lets a WebSocket client and a TCP client exchange events", async () => {
    const ws = await fixture.client(`ws://127.0.0.1:${root.http}/`, {
      events: ["chat", "sync"],
      // ws's event typings are narrower than the structural WHATWG subset the client needs.
      webSocket: WebSocket as unknown as WebSocketConstructor,
    });
    const tcp = await fixture.client(leaf, { events: ["chat", "sync"] });
    const wsInbox = inbox(ws);
    const tcpInbox = inbox(tcp);
    await sync(tcp, [wsInbox]);
    await sync(ws, [tcpInbox]);
    tcp.publish("chat", "from tcp");
    expect((await wsInbox.next()).text()).toBe("from tcp");
    ws.publish("chat", "from ws");
    expect((await tcpInbox.next()).text()).toBe("from ws");
  });

  it("serves /healthz and Prometheus /metrics", async () => {
    const health = (await (await fetch(`http://127.0.0.1:${root.http}/healthz`)).json()) as Record<
      string,
      unknown
    >;
    expect(health).toMatchObject({ status: "ok", node: "root", childLinks: 2 });
    const metrics = await (await fetch(`http://127.0.0.1:${root.http}/metrics`)).text();
    for (const name of [
      "connections",
      "subscriptions",
      "frames_in_total",
      "bytes_out_total",
      "dropped_total",
      "slow_consumers_total",
    ]) {
      expect(metrics).toMatch(new RegExp(`treescale_bus_${name}\\{node="root"\\} \\d+`));
    }
  });
});

describe("bus tree — reconnect", () => {
  it("re-links and resubscribes the subtree after the parent restarts", async () => {
    const subscriber = inbox(await fixture.client(leaf, { events: ["after.restart", "sync"] }));
    const watcher = inbox(await fixture.client(root, { events: ["node.up", "node.down"] }));
    const port = mid.port;
    await mid.stop();
    expect((await watcher.next()).json()).toMatchObject({ node: "mid", parent: "root" });
    mid = await fixture.startNode("mid", ["--parent", root.url, "--tag", "region-a"], port);
    await mid.waitForLog(/child node linked node="leaf"/);
    const up = await watcher.next();
    expect(up.event).toBe("node.up");
    const publisher = await fixture.client(side, { events: [] });
    await sync(publisher, [subscriber], 10_000);
    publisher.publish("after.restart", "hello again");
    expect((await subscriber.next()).text()).toBe("hello again");
  });
});
