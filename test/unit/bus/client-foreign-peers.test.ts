// The client against peers that are not well-behaved nodes, over in-memory connections: one that stops
// reading after READY cannot hold flush() or close() past the flush deadline, and a server that is not a
// TreeScale node at all is named as such at once.
import { afterEach, describe, expect, it } from "vitest";
import { BusClient } from "../../../src/bus/client/index.js";
import { socketTransport } from "../../../src/bus/client/tcp-transport.js";
import { encodeControl, FrameType } from "../../../src/bus/protocol/index.js";
import { duplexPair, type MemorySocket } from "../../support/duplex-pair.js";

const opened: MemorySocket[] = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

/** A peer that answers the client's first bytes with `answer`, then (with `stall`) never reads again. */
function peer(answer: Uint8Array, stall: boolean) {
  const [clientEnd, peerEnd] = duplexPair();
  opened.push(clientEnd, peerEnd);
  peerEnd.once("data", () => {
    peerEnd.write(answer);
    if (stall) peerEnd.pause();
    else peerEnd.resume();
  });
  return () => Promise.resolve(socketTransport(clientEnd));
}

const READY = encodeControl(FrameType.ready, { node: "stalled", connection: 1, heartbeatMs: 60_000 });

describe("client — a node that stops reading", () => {
  it("flush() rejects with FLUSH_TIMEOUT naming the node, and close() still ends, within the deadline", async () => {
    const client = await BusClient.connect({
      url: "tcp://stalled.example:7000",
      transport: peer(READY, true),
      reconnect: false,
      flushTimeoutMs: 300,
    });
    // Far more than the in-memory socket buffers: the writes wait for a read that never comes.
    for (let i = 0; i < 50; i++) client.publish("bulk", "x".repeat(64 * 1024));
    await expect(client.flush()).rejects.toMatchObject({
      code: "FLUSH_TIMEOUT",
      message: expect.stringContaining("tcp://stalled.example:7000 did not take what was sent within 300 ms"),
    });
    await client.close();
    await expect(client.closed).resolves.toBeUndefined();
  });
});

describe("client — a server that is not a TreeScale node", () => {
  it("an HTTP server's answer fails the connect at once with not_a_node, quoting it", async () => {
    const http = new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    const connecting = BusClient.connect({
      url: "tcp://web.example:80",
      transport: peer(http, false),
      reconnect: false,
      handshakeTimeoutMs: 60_000,
    });
    await expect(connecting).rejects.toMatchObject({
      code: "not_a_node",
      message: expect.stringMatching(
        /the server at tcp:\/\/web\.example:80 is not a TreeScale node: it answered "HTTP\/1\.1 400 Bad Request/,
      ),
    });
  });

  it("a node's greeting split into single bytes is still a node's", async () => {
    const [clientEnd, peerEnd] = duplexPair();
    opened.push(clientEnd, peerEnd);
    peerEnd.split = (chunk) => Array.from(chunk, (byte) => Uint8Array.of(byte));
    peerEnd.once("data", () => peerEnd.write(READY));
    peerEnd.resume();
    const client = await BusClient.connect({
      url: "tcp://node.example:7000",
      transport: () => Promise.resolve(socketTransport(clientEnd)),
      reconnect: false,
    });
    expect(client.node).toBe("stalled");
    await client.close();
  });
});
