// The byte stream has no message boundaries: a node and a client must read frames however the wire cuts
// them. Over in-memory connections that deliver chosen pieces, through the real node and client.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeRouted, FrameType, frameType, utf8 } from "../../../src/bus/protocol/index.js";
import { inbox } from "../../support/bus.js";
import { byteByByte } from "../../support/duplex-pair.js";
import { hello, MemoryBus, TOKEN } from "../../support/memory-bus.js";

let bus: MemoryBus;
beforeEach(() => {
  bus = new MemoryBus();
});
afterEach(() => bus.teardown());

describe("frames split across the wire", () => {
  it("carries a whole session with every frame arriving one byte at a time, both ways", async () => {
    const node = bus.node("n1");
    const oneByteEach = { toNode: byteByByte, fromNode: byteByByte };
    const worker = await bus.client(node, { events: ["deploy", "status"], tags: ["web"] }, oneByteEach);
    const received = inbox(worker);
    worker.onMessage((message) => {
      if (message.kind === "request") message.reply?.(`ok ${message.text()}`);
    });
    const publisher = await bus.client(node, {}, oneByteEach);

    const payload = `${"x".repeat(300)}é`;
    publisher.publish("deploy", payload, { tag: "web" });
    const delivered = await received.next();
    expect(delivered.text()).toBe(payload);
    expect(delivered.target).toEqual({ tag: "web" });
    expect((await publisher.request("status", { tag: "web" }, "q", 5000)).text()).toBe("ok q");
  });

  it("reads a client's CONNECT and DECLARE cut at any single byte into two chunks", async () => {
    const node = bus.node("n1");
    const handshake = hello(TOKEN, ["deploy"], ["web"]);
    for (let cut = 1; cut < handshake.length; cut++) {
      const raw = bus.raw(node);
      raw.write(handshake.subarray(0, cut));
      raw.write(handshake.subarray(cut));
      expect(frameType(await raw.next()), `cut at byte ${cut}`).toBe(FrameType.ready);
      raw.socket.end();
    }
  });

  it("forwards a client's publishes cut at any single byte into two chunks, unchanged", async () => {
    const node = bus.node("n1");
    const subscriber = inbox(await bus.client(node, { events: ["deploy"] }));
    const stream = Buffer.concat([
      encodeRouted(FrameType.publish, { event: "deploy", origin: "n1" }, utf8("first")),
      encodeRouted(FrameType.publish, { event: "deploy", origin: "n1", tag: "" }, utf8("second é")),
    ]);
    for (let cut = 1; cut < stream.length; cut++) {
      const raw = bus.raw(node);
      raw.write(hello(TOKEN));
      await raw.next();
      raw.write(stream.subarray(0, cut));
      raw.write(stream.subarray(cut));
      const texts = [(await subscriber.next()).text(), (await subscriber.next()).text()];
      expect(texts, `cut at byte ${cut}`).toEqual(["first", "second é"]);
      raw.socket.end();
    }
    expect(node.metrics.protocolErrors).toBe(0);
  });
});
