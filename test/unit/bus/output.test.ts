// The hot path's output side: forwarded runs of frames leave as views of the chunk they arrived in, the
// client's frames are written into one batch, and header strings decode the same with their cache.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameBatch } from "../../../src/bus/client/frame-batch.js";
import { BusMetrics } from "../../../src/bus/metrics.js";
import {
  checkRoute,
  decodeRoute,
  encodeRouted,
  FrameParser,
  FrameType,
  ProtocolError,
} from "../../../src/bus/protocol/index.js";
import { Peer } from "../../../src/bus/server/peer.js";
import type { Wire } from "../../../src/bus/server/wire.js";

function fakeWire(): Wire & { writes: Uint8Array[][] } {
  const writes: Uint8Array[][] = [];
  return {
    writes,
    remote: "test",
    address: "test",
    carriesNodeLinks: true,
    authorizedPeer: false,
    certificateProblem: "",
    write: (frames) => writes.push([...frames]),
    pendingBytes: () => 0,
    end: () => {},
    destroy: () => {},
    limitInput: () => {},
    onData: () => {},
    onClose: () => {},
    pause: () => {},
    resume: () => {},
    onDrain: () => {},
  };
}

function peerOn(wire: Wire, metrics = new BusMetrics()): Peer {
  return new Peer(1, wire, {
    maxFrameBytes: 1 << 20,
    maxPendingBytes: 1 << 20,
    metrics,
    onFrame: () => {},
    onClose: () => {},
    onDrain: () => {},
  });
}

function frames(count: number): { chunk: Uint8Array; views: Uint8Array[] } {
  const parts = Array.from({ length: count }, (_, i) =>
    encodeRouted(FrameType.publish, { event: "e", origin: "o" }, new Uint8Array([i])),
  );
  const chunk = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    chunk.set(part, offset);
    offset += part.length;
  }
  const views: Uint8Array[] = [];
  new FrameParser({ maxFrameBytes: 1 << 20, onFrame: (frame) => views.push(frame) }).push(chunk);
  return { chunk, views };
}

describe("peer output", () => {
  it("sends a run of adjacent frames from one chunk as one view of that chunk, counting every frame", () => {
    const wire = fakeWire();
    const metrics = new BusMetrics();
    const peer = peerOn(wire, metrics);
    const { chunk, views } = frames(5);
    for (const view of views) peer.send(view);
    peer.flush();
    expect(wire.writes).toHaveLength(1);
    const [batch] = wire.writes;
    expect(batch).toHaveLength(1);
    expect(batch![0]!.buffer).toBe(chunk.buffer);
    expect([...batch![0]!]).toEqual([...chunk]);
    expect(metrics.framesOut).toBe(5);
    expect(metrics.bytesOut).toBe(chunk.length);
  });

  it("keeps frames in order when runs are broken by skipped frames or frames from elsewhere", () => {
    const wire = fakeWire();
    const peer = peerOn(wire);
    const { views } = frames(4);
    const other = encodeRouted(FrameType.publish, { event: "x", origin: "o" }, new Uint8Array([9]));
    peer.send(views[0]!);
    peer.send(views[1]!);
    peer.send(other);
    peer.send(views[3]!);
    peer.flush();
    const sent = wire.writes[0]!;
    expect(sent.map((part) => part.length)).toEqual([
      views[0]!.length + views[1]!.length,
      other.length,
      views[3]!.length,
    ]);
    const seen: number[] = [];
    const parser = new FrameParser({
      maxFrameBytes: 1 << 20,
      onFrame: (frame) => seen.push(frame[frame.length - 1]!),
    });
    for (const part of sent) parser.push(part);
    expect(seen).toEqual([0, 1, 9, 3]);
  });
});

describe("client frame batch", () => {
  it("hands out what was written, in order, across slabs", () => {
    const batch = new FrameBatch();
    const written: number[] = [];
    for (let i = 0; i < 40; i++) {
      const frame = new Uint8Array(30_000).fill(i);
      batch.append(frame);
      written.push(i);
    }
    expect(batch.bytes).toBe(40 * 30_000);
    const parts = batch.take();
    expect(parts.length).toBeGreaterThan(1);
    const all = parts.flatMap((part) => [...part]);
    expect(all.length).toBe(40 * 30_000);
    expect(all.filter((_, index) => index % 30_000 === 0)).toEqual(written);
    expect(batch.bytes).toBe(0);
    batch.append(new Uint8Array([7]));
    expect(batch.take().map((part) => [...part])).toEqual([[7]]);
  });
});

describe("routing header decoding", () => {
  it("decodes any names the same, whatever was decoded before them (property)", () => {
    const name = fc.string({ minLength: 1, maxLength: 40 }).map((text) => text.replace(/\s/g, "_"));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, name, name), { minLength: 1, maxLength: 30 }), (list) => {
        for (const [event, origin, tag] of list) {
          const frame = encodeRouted(FrameType.publish, { event, origin, tag }, new Uint8Array(0));
          checkRoute(frame);
          expect(decodeRoute(frame)).toMatchObject({ event, origin, tag, node: "", group: "" });
        }
      }),
    );
  });

  it("checkRoute refuses a header whose strings overrun it, or without an event", () => {
    const frame = encodeRouted(FrameType.publish, { event: "ev", origin: "o" }, new Uint8Array(4));
    const overrun = frame.slice();
    overrun[12] = 200;
    expect(() => checkRoute(overrun)).toThrow(ProtocolError);
    const noEvent = encodeRouted(FrameType.publish, { event: "ev" }, new Uint8Array(0));
    noEvent[12] = 0;
    expect(() => checkRoute(noEvent)).toThrow(/without an event/);
  });
});
