import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeControl,
  decodeRoute,
  ErrorCode,
  encodeControl,
  encodeRouted,
  FrameParser,
  FrameType,
  ProtocolError,
  payloadOf,
} from "../../../src/bus/protocol/index.js";

function collect(maxFrameBytes = 1 << 20): { parser: FrameParser; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  const parser = new FrameParser({ maxFrameBytes, onFrame: (frame) => frames.push(frame.slice()) });
  return { parser, frames };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const sample = [
  encodeRouted(
    FrameType.publish,
    { event: "deploy", origin: "root", tag: "web" },
    new TextEncoder().encode("{}"),
  ),
  encodeControl(FrameType.ping),
  encodeRouted(
    FrameType.request,
    { id: 7, event: "état", origin: "n1", node: "c1", replyTo: "3" },
    new Uint8Array(300),
  ),
  encodeControl(FrameType.declare, { events: ["a"], tags: [], groups: [], channels: [] }),
];

describe("frames", () => {
  it("round-trips a routing header and keeps the payload opaque", () => {
    const payload = new Uint8Array([0, 1, 2, 255]);
    const frame = encodeRouted(
      FrameType.publish,
      { id: 42, event: "ev", origin: "o", group: "g", channel: "c" },
      payload,
    );
    expect(decodeRoute(frame)).toEqual({
      id: 42,
      event: "ev",
      origin: "o",
      node: "",
      tag: "",
      group: "g",
      channel: "c",
      replyTo: "",
    });
    expect([...payloadOf(frame)]).toEqual([...payload]);
  });

  it("decodes UTF-8 names and control bodies", () => {
    expect(decodeRoute(sample[2]!).event).toBe("état");
    expect(decodeControl(sample[3]!)).toEqual({ events: ["a"], tags: [], groups: [], channels: [] });
  });

  it("rejects a header whose strings overrun it", () => {
    const frame = encodeRouted(FrameType.publish, { event: "ev" }, new Uint8Array(0)).slice();
    frame[12] = 200;
    expect(() => decodeRoute(frame)).toThrow(ProtocolError);
  });

  it("refuses names over 255 bytes", () => {
    expect(() => encodeRouted(FrameType.publish, { event: "x".repeat(256) }, new Uint8Array(0))).toThrow(
      ProtocolError,
    );
  });
});

describe("FrameParser", () => {
  it("parses frames fed one byte at a time", () => {
    const { parser, frames } = collect();
    const stream = concat(sample);
    for (let i = 0; i < stream.length; i++) parser.push(stream.subarray(i, i + 1));
    expect(frames).toEqual(sample);
    expect(parser.bufferedBytes).toBe(0);
  });

  it("parses the same frames under any chunking (property)", () => {
    const stream = concat(sample);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 40 }), (cuts) => {
        const { parser, frames } = collect();
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        let previous = 0;
        for (const point of [...points, stream.length]) {
          parser.push(stream.subarray(previous, point));
          previous = point;
        }
        expect(frames).toEqual(sample);
      }),
    );
  });

  it("parses random frames under random chunking (property)", () => {
    const frameArb = fc
      .record({
        event: fc.string({ minLength: 1, maxLength: 20 }),
        payload: fc.uint8Array({ maxLength: 2000 }),
      })
      .map(({ event, payload }) =>
        encodeRouted(FrameType.publish, { event: event.replace(/\s/g, "_") || "e" }, payload),
      );
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (list, cuts) => {
          const stream = concat(list);
          const { parser, frames } = collect();
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
          let previous = 0;
          for (const point of [...points, stream.length]) {
            parser.push(stream.subarray(previous, point));
            previous = point;
          }
          expect(frames).toEqual(list);
        },
      ),
    );
  });

  it("refuses an oversized frame from its length prefix alone, before its body arrives", () => {
    const { parser, frames } = collect(1024);
    const prefix = new Uint8Array([0, 0, 0x10, 0, FrameType.publish]);
    expect(() => parser.push(prefix)).toThrow(expect.objectContaining({ code: ErrorCode.frameTooLarge }));
    expect(frames).toEqual([]);
  });

  it("refuses the oversized frame even when its prefix is split across chunks", () => {
    const { parser } = collect(1024);
    parser.push(new Uint8Array([0, 0]));
    expect(() => parser.push(new Uint8Array([0x10, 0]))).toThrow(
      expect.objectContaining({ code: ErrorCode.frameTooLarge }),
    );
  });

  it("refuses a frame shorter than its prefix and a header longer than its frame", () => {
    expect(() => collect().parser.push(new Uint8Array([0, 0, 0, 1, 9]))).toThrow(
      expect.objectContaining({ code: ErrorCode.protocolError }),
    );
    expect(() => collect().parser.push(new Uint8Array([0, 0, 0, 4, 6, 0, 0, 9]))).toThrow(
      expect.objectContaining({ code: ErrorCode.protocolError }),
    );
  });

  it("emits views of the input chunk when a frame lies within it (no copy)", () => {
    const seen: Uint8Array[] = [];
    const parser = new FrameParser({ maxFrameBytes: 1 << 20, onFrame: (frame) => seen.push(frame) });
    const stream = concat(sample);
    parser.push(stream);
    expect(seen[0]!.buffer).toBe(stream.buffer);
  });
});
