// Admission over in-memory connections: a client's token and declaration before READY, and a child node's
// cluster-secret challenge. The real BusServer and SocketWire, no socket or process.
import { afterEach, describe, expect, it } from "vitest";
import { BusClient } from "../../../src/bus/client/index.js";
import {
  decodeControl,
  encodeControl,
  encodeRouted,
  FrameType,
  frameType,
  PROTOCOL_VERSION,
} from "../../../src/bus/protocol/index.js";
import { bodyOf, hello, MemoryBus, TOKEN } from "../../support/memory-bus.js";

let bus: MemoryBus;
afterEach(() => bus.teardown());

function fresh(): MemoryBus {
  bus = new MemoryBus();
  return bus;
}

describe("admission — clients", () => {
  it("answers CONNECT with a listed token and DECLARE with READY naming the node, the connection and its limits", async () => {
    const node = fresh().node("n1", { heartbeatMs: 250, maxFrameBytes: 65536 });
    const raw = bus.raw(node);
    raw.write(hello(TOKEN, ["deploy"]));
    const ready = await raw.next();
    expect(frameType(ready)).toBe(FrameType.ready);
    const body = bodyOf<{ node: string; connection: number; heartbeatMs: number; maxFrameBytes: number }>(
      ready,
    );
    expect(body).toEqual({
      node: "n1",
      connection: expect.any(Number),
      heartbeatMs: 250,
      maxFrameBytes: 65536,
    });
    expect(node.gauges()).toMatchObject({ clients: 1, subscriptions: 1 });
  });

  it("refuses a token not in the list with ERROR auth_failed, then closes the connection", async () => {
    const node = fresh().node("n1");
    const raw = bus.raw(node);
    raw.write(hello("wrong-token"));
    const error = await raw.next();
    expect(frameType(error)).toBe(FrameType.error);
    expect(bodyOf<{ code: string }>(error).code).toBe("auth_failed");
    await raw.closed;
    expect(raw.frames.map(frameType)).toEqual([FrameType.error]);
    expect(node.metrics.authFailures).toBe(1);
    expect(bus.logs).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: "handshake rejected",
        fields: expect.objectContaining({ reason: "token not in the token file" }),
      }),
    );
  });

  it("makes BusClient.connect reject with auth_failed for a wrong token or none", async () => {
    const node = fresh().node("n1");
    await expect(bus.client(node, { token: "wrong-token" })).rejects.toMatchObject({
      name: "BusError",
      code: "auth_failed",
    });
    await expect(bus.client(node, { token: undefined })).rejects.toMatchObject({ code: "auth_failed" });
    await expect(bus.client(node)).resolves.toBeInstanceOf(BusClient);
  });

  it("holds frames sent during the token check and refuses a PUBLISH sent before READY with not_ready", async () => {
    const node = fresh().node("n1");
    const raw = bus.raw(node);
    const connect = encodeControl(FrameType.connect, {
      protocol: PROTOCOL_VERSION,
      kind: "client",
      token: TOKEN,
    });
    raw.write(
      Buffer.concat([
        connect,
        encodeRouted(FrameType.publish, { event: "deploy", origin: "n1" }, new Uint8Array(0)),
      ]),
    );
    const error = await raw.next();
    expect(bodyOf<{ code: string }>(error).code).toBe("not_ready");
    await raw.closed;
  });

  it("answers a second DECLARE with another READY and delivers by the new declaration", async () => {
    const node = fresh().node("n1");
    const raw = bus.raw(node);
    raw.write(hello(TOKEN, ["old"]));
    expect(frameType(await raw.next())).toBe(FrameType.ready);
    raw.write(encodeControl(FrameType.declare, { events: ["new"], tags: [], groups: [], channels: [] }));
    expect(frameType(await raw.next())).toBe(FrameType.ready);
    node.publish("old", "not for you");
    node.publish("new", "for you");
    const delivered = await raw.next();
    expect(frameType(delivered)).toBe(FrameType.publish);
    expect(Buffer.from(delivered).toString()).toContain("for you");
    expect(Buffer.from(delivered).toString()).not.toContain("not for you");
  });
});

describe("admission — child nodes", () => {
  it("links a child holding the cluster secret, and the parent announces it with node.up", async () => {
    fresh();
    const parent = bus.node("parent");
    const child = bus.node("child");
    const ups: unknown[] = [];
    parent.onNodeEvent((event, detail) => {
      if (event === "up") ups.push(detail);
    });
    await bus.link(parent, child);
    expect(child.parentName).toBe("parent");
    expect(parent.gauges().childLinks).toBe(1);
    expect(ups).toEqual([expect.objectContaining({ node: "child", parent: "parent" })]);
  });

  it("refuses a child whose secret differs: the child finds the parent's proof wrong and gives up", async () => {
    fresh();
    const parent = bus.node("parent");
    const child = bus.node("child", { clusterSecret: new TextEncoder().encode("another-secret") });
    await expect(bus.link(parent, child)).rejects.toThrow(
      /auth_failed: parent failed the cluster-secret challenge/,
    );
    expect(parent.gauges().childLinks).toBe(0);
  });

  it("refuses a node hello when this node has no cluster secret", async () => {
    const node = fresh().node("lonely", { clusterSecret: undefined });
    const raw = bus.raw(node);
    raw.write(
      encodeControl(FrameType.connect, {
        protocol: PROTOCOL_VERSION,
        kind: "node",
        name: "child",
        nonce: "ab",
      }),
    );
    const error = await raw.next();
    expect(decodeControl(error)).toMatchObject({
      code: "auth_failed",
      message: expect.stringMatching(/no cluster secret/),
    });
    await raw.closed;
  });
});
