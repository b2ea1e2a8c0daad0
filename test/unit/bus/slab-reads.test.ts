// SlabReads driven as net drives an `onread` socket: buffer() before each read, callback(bytes, buffer) after.
import { describe, expect, it } from "vitest";
import { SlabReads } from "../../../src/bus/slab-reads.js";

/** One read of `bytes` bytes of `value` into the buffer offered; returns the buffer. */
function read(reads: SlabReads, bytes: number, value: number): Uint8Array {
  const buffer = reads.onread.buffer();
  const filled = Math.min(bytes, buffer.length);
  buffer.fill(value, 0, filled);
  expect(reads.onread.callback(filled, buffer)).toBe(true);
  return buffer;
}

describe("slab reads", () => {
  it("hands chunks read before anyone listens over first, in order, then the rest as they come", () => {
    const reads = new SlabReads();
    read(reads, 3, 1);
    read(reads, 2, 2);
    const chunks: number[][] = [];
    reads.onData((chunk) => chunks.push([...chunk]));
    read(reads, 1, 3);
    expect(chunks).toEqual([[1, 1, 1], [2, 2], [3]]);
  });

  it("never writes a read over an earlier one's bytes, small reads and large", () => {
    const reads = new SlabReads();
    const chunks: Uint8Array[] = [];
    reads.onData((chunk) => chunks.push(chunk));
    const sizes = Array.from({ length: 3000 }, (_, i) => (i % 100 < 10 ? 200_000 : 1 + ((i * 53) % 2000)));
    for (const [i, size] of sizes.entries()) read(reads, size, i % 256);
    const damaged = chunks.findIndex((chunk, i) => chunk.some((byte) => byte !== i % 256));
    expect(damaged).toBe(-1);
  });

  it("lets small reads share a slab, offers up to 64 KiB while reads fill it and less again once they do not", () => {
    const reads = new SlabReads();
    reads.onData(() => {});
    const first = read(reads, 60, 1);
    const second = read(reads, 60, 2);
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset + 60);
    const offered: number[] = [];
    for (let i = 0; i < 6; i++) offered.push(read(reads, 1 << 20, 3).length);
    expect(offered).toEqual([4096, 8192, 16384, 32768, 65536, 65536]);
    for (let i = 0; i < 5; i++) read(reads, 60, 4);
    expect(reads.onread.buffer().length).toBe(4096);
  });
});
