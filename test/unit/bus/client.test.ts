// The client's sending and ending over in-memory connections to a real node: flush hands everything on,
// close sends what is queued and ends the connection, and what is left waiting ends with it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BusClient, BusError, type Message } from "../../../src/bus/client/index.js";
import { socketTransport } from "../../../src/bus/client/tcp-transport.js";
import { inbox, until } from "../../support/bus.js";
import { duplexPair } from "../../support/duplex-pair.js";
import { MemoryBus, TOKEN } from "../../support/memory-bus.js";

let bus: MemoryBus;
beforeEach(() => {
  bus = new MemoryBus();
});
afterEach(() => bus.teardown());

describe("client — flush", () => {
  it("resolves once everything published was handed on, which the subscriber then receives in order", async () => {
    const node = bus.node("n1");
    const subscriber = inbox(await bus.client(node, { events: ["tick"] }));
    const publisher = await bus.client(node);
    // Well over the in-memory socket's buffer: flush has to wait for the node to read.
    const payload = "p".repeat(1000);
    for (let i = 0; i < 600; i++) publisher.publish("tick", `${i}:${payload}`);
    await publisher.flush();
    for (let i = 0; i < 600; i++) expect((await subscriber.next()).text().split(":")[0]).toBe(String(i));
  });

  it("resolves at once when nothing is waiting", async () => {
    const node = bus.node("n1");
    const client = await bus.client(node);
    await client.flush();
    await client.flush();
    expect(client.isReady).toBe(true);
  });
});

describe("client — close", () => {
  it("sends what was published just before it, ends the connection and resolves closed without an error", async () => {
    const node = bus.node("n1");
    const subscriber = inbox(await bus.client(node, { events: ["bye"] }));
    const publisher = await bus.client(node);
    expect(node.gauges().clients).toBe(2);
    publisher.publish("bye", "last words");
    await publisher.close();
    expect((await subscriber.next()).text()).toBe("last words");
    await expect(publisher.closed).resolves.toBeUndefined();
    await until(() => node.gauges().clients === 1, 2000, "the node to drop the closed client");
  });

  it("then refuses to publish, and ends requests still waiting for a reply with closed", async () => {
    const node = bus.node("n1");
    // A responder that never answers keeps the request open until the close.
    await bus.client(node, { events: ["slow"] });
    const client = await bus.client(node);
    const pending = client.request("slow", {}, undefined, 10_000);
    await client.flush();
    await client.close();
    await expect(pending).rejects.toMatchObject({ name: "BusError", code: "closed" });
    expect(() => client.publish("late")).toThrow(BusError);
    await expect(client.subscribe({ events: ["x"] })).rejects.toMatchObject({ code: "closed" });
    await client.close();
  });

  it("ends an open async iterator", async () => {
    const node = bus.node("n1");
    const client = await bus.client(node, { events: ["e"] });
    const seen: Message[] = [];
    const reading = (async () => {
      for await (const message of client) seen.push(message);
    })();
    const publisher = await bus.client(node);
    publisher.publish("e", "one");
    await until(() => seen.length === 1, 2000, "the first message");
    await client.close();
    await reading;
    expect(seen.map((message) => message.text())).toEqual(["one"]);
  });

  it("is closed with the node's error code when the node ends the connection", async () => {
    const node = bus.node("n1");
    const client = await bus.client(node);
    node.stop();
    const error = await client.closed;
    expect(error).toMatchObject({ name: "BusError", code: "shutting_down" });
  });
});

describe("client — reconnect", () => {
  it("keeps retrying, rather than waiting forever, when the node it reconnects to never answers", async () => {
    const node = bus.node("n1");
    let dials = 0;
    const client = await BusClient.connect({
      url: "memory://n1",
      token: TOKEN,
      handshakeTimeoutMs: 100,
      reconnect: { initialMs: 10, maxMs: 20 },
      transport: async () => {
        dials++;
        if (dials === 1) return socketTransport(bus.connect(node));
        // A connection whose far end takes the bytes and never answers.
        const [near, far] = duplexPair();
        bus.sockets.push(near, far);
        far.resume();
        return socketTransport(near);
      },
    });
    bus.clients.push(client);
    node.stop();
    await until(() => dials >= 4, 3000, "repeated reconnect attempts");
    expect(client.isReady).toBe(false);
  });
});
