import { createHash } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TransferMeter } from "../../../src/images/meter.js";
import { Spool, streamDigest, sweepSpools } from "../../../src/images/spool.js";
import {
  CHUNK_BYTES,
  decodeChunk,
  encodeChunk,
  parseImageTarget,
  targetIncludes,
} from "../../../src/images/wire.js";

const IMAGE = "sha256:abc123";
const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const chunk = (byte: number, size = 1000) => new Uint8Array(size).fill(byte);

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tsspool-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const piece of stream) out.push(piece);
  return out;
}

describe("spool", () => {
  it("refuses a chunk whose bytes do not match its hash, and a gap; takes a resent chunk again", async () => {
    const spool = await Spool.open(dir, IMAGE);
    const good = chunk(1);
    const flipped = new Uint8Array(good);
    flipped[10]! ^= 0xff;
    await expect(spool.append(0, flipped, sha(good))).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    await expect(spool.append(1, chunk(2), sha(chunk(2)))).rejects.toMatchObject({
      code: "CHUNK_OUT_OF_ORDER",
    });
    expect(spool.count).toBe(0);
    await spool.append(0, good, sha(good));
    await spool.append(0, good, sha(good));
    expect([spool.count, spool.bytes]).toEqual([1, 1000]);
    expect((await spool.read(0)).data).toEqual(good);
    await spool.close();
  });

  it("reopened, keeps the chunks it completed and drops a half-written one", async () => {
    const first = await Spool.open(dir, IMAGE);
    await first.append(0, chunk(1), sha(chunk(1)));
    await first.append(1, chunk(2), sha(chunk(2)));
    await first.close();
    // The node died after writing the second chunk's hash line but not all of its bytes.
    await truncate(join(dir, "abc123.part"), 1500);
    const again = await Spool.open(dir, IMAGE);
    expect([again.resumedFrom, again.count, again.bytes]).toEqual([1, 1, 1000]);
    await again.append(1, chunk(2), sha(chunk(2)));
    expect(again.count).toBe(2);
    await again.remove();
  });

  it("reopened, drops a kept chunk whose bytes on disk no longer match its hash, and what follows", async () => {
    const first = await Spool.open(dir, IMAGE);
    for (const [index, byte] of [1, 2, 3].entries()) await first.append(index, chunk(byte), sha(chunk(byte)));
    await first.close();
    const file = await open(join(dir, "abc123.part"), "r+");
    await file.write(new Uint8Array([9]), 0, 1, 1500);
    await file.close();
    const again = await Spool.open(dir, IMAGE);
    expect([again.resumedFrom, again.bytes]).toEqual([1, 1000]);
    await again.remove();
  });

  it("tells a stream of good chunks that is not the one sent: count, bytes or digest", async () => {
    const spool = await Spool.open(dir, IMAGE);
    await spool.append(0, chunk(2), sha(chunk(2)));
    await spool.append(1, chunk(1), sha(chunk(1)));
    const sent = {
      image: IMAGE,
      chunks: 2,
      bytes: 2000,
      sha256: streamDigest([sha(chunk(1)), sha(chunk(2))]),
    };
    expect(spool.mismatch(sent)).toMatch(/the 2 chunks received \(2000 bytes\) have the digest [0-9a-f]{64}/);
    expect(spool.mismatch({ ...sent, sha256: spool.digest })).toBeUndefined();
    expect(spool.mismatch({ ...sent, sha256: spool.digest, chunks: 3 })).toBeDefined();
    await spool.close();
  });

  it("hands on the last chunk only when the whole stream's SHA-256 matches", async () => {
    const spool = await Spool.open(dir, IMAGE);
    await spool.append(0, chunk(1), sha(chunk(1)));
    await spool.append(1, chunk(2), sha(chunk(2)));
    spool.finish({ image: IMAGE, chunks: 2, bytes: 2000, sha256: "0".repeat(64) });
    const seen: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const piece of spool.stream()) seen.push(piece);
      })(),
    ).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    expect(seen).toHaveLength(1);
    await spool.close();
  });

  it("streams chunks as they arrive, until the end", async () => {
    const spool = await Spool.open(dir, IMAGE);
    const reading = collect(spool.stream());
    for (const [index, byte] of [7, 8, 9].entries()) await spool.append(index, chunk(byte), sha(chunk(byte)));
    const digest = streamDigest([7, 8, 9].map((byte) => sha(chunk(byte))));
    spool.finish({ image: IMAGE, chunks: 3, bytes: 3000, sha256: digest });
    expect((await reading).map((piece) => piece[0])).toEqual([7, 8, 9]);
    await spool.close();
  });

  it("a source spool cuts a save stream into hashed chunks", async () => {
    async function* save() {
      yield new Uint8Array((CHUNK_BYTES * 3) / 2).fill(3);
      yield new Uint8Array((CHUNK_BYTES * 3) / 4).fill(4);
    }
    const { spool, filled } = await Spool.fill(dir, IMAGE, save());
    await filled;
    expect([spool.count, spool.bytes, spool.end?.chunks]).toEqual([3, (CHUNK_BYTES * 9) / 4, 3]);
    const { data, sha256 } = await spool.read(1);
    expect([data.length, sha256]).toEqual([CHUNK_BYTES, sha(data)]);
    const chunks = await collect(spool.stream());
    expect(chunks.map((piece) => piece.length)).toEqual([CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES / 4]);
    await spool.remove();
  });

  it("a source spool holds every chunk whole and in order, its header carrying its digest, in memory and on disk", async () => {
    // Pieces of odd sizes, each byte numbered: a chunk holding bytes of the wrong piece or place shows.
    const total = CHUNK_BYTES * 10 + 12_345;
    const expected = new Uint8Array(total);
    for (let i = 0; i < total; i++) expected[i] = (i * 7 + (i >> 20)) & 0xff;
    async function* save() {
      for (let at = 0; at < total; at += 300_007) yield expected.slice(at, Math.min(total, at + 300_007));
    }
    const { spool, filled } = await Spool.fill(dir, IMAGE, save());
    await filled;
    expect(spool.count).toBe(11);
    for (let index = 0; index < spool.count; index++) {
      // The first chunks left the in-memory window: they come back from the disk.
      const { header, data } = decodeChunk((await spool.encoded(index)).payload);
      expect([header.index, header.sha256, spool.hashOf(index)]).toEqual([index, sha(data), sha(data)]);
      const at = index * CHUNK_BYTES;
      expect(Buffer.compare(data, expected.subarray(at, at + data.length))).toBe(0);
    }
    const whole = Buffer.concat(await collect(spool.stream()));
    expect(Buffer.compare(whole, expected)).toBe(0);
    await spool.remove();
  });
});

describe("spool over an archive", () => {
  it("cuts the archive into hashed chunks read where they lie, and leaves the file as it was", async () => {
    const bytes = new Uint8Array(CHUNK_BYTES * 2 + 99);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) & 0xff;
    const path = join(dir, "image.tar");
    await writeFile(path, bytes);
    const { spool, filled } = await Spool.overArchive(path, IMAGE);
    await filled;
    expect([spool.count, spool.bytes, spool.end?.chunks]).toEqual([3, bytes.length, 3]);
    const { data, sha256 } = await spool.read(2);
    expect([sha256, Buffer.compare(data, bytes.subarray(2 * CHUNK_BYTES))]).toEqual([sha(data), 0]);
    expect(Buffer.compare(Buffer.concat(await collect(spool.stream())), bytes)).toBe(0);
    await spool.remove();
    // Nothing was written beside it, and the archive is the user's: still there, unchanged.
    expect(await readdir(dir)).toEqual(["image.tar"]);
    expect(Buffer.compare(await readFile(path), bytes)).toBe(0);
  });
});

describe("spool sweep", () => {
  it("removes an earlier run's source spools and received spools idle past the limit, keeps the rest", async () => {
    // This run started a second ago (file times are coarser than the clock); the earlier one long before.
    const startedAt = Date.now() - 1000;
    const old = new Date(startedAt - 10 * 60_000);
    await mkdir(join(dir, "sources", "source-old"), { recursive: true });
    await mkdir(join(dir, "sources", "source-new"), { recursive: true });
    await utimes(join(dir, "sources", "source-old"), old, old);
    for (const name of ["stale.part", "stale.chunks", "fresh.part", "fresh.chunks", "notes.txt"])
      await writeFile(join(dir, name), "x");
    for (const name of ["stale.part", "stale.chunks", "notes.txt"]) await utimes(join(dir, name), old, old);
    const removed = await sweepSpools(dir, 5 * 60_000, startedAt);
    expect(removed.sort()).toEqual([join("sources", "source-old"), "stale.chunks", "stale.part"]);
    expect((await readdir(dir)).sort()).toEqual(["fresh.chunks", "fresh.part", "notes.txt", "sources"]);
    expect(await readdir(join(dir, "sources"))).toEqual(["source-new"]);
  });

  it("finds nothing to do in a directory that does not exist yet", async () => {
    expect(await sweepSpools(join(dir, "none"), 1000, Date.now())).toEqual([]);
  });
});

describe("image wire", () => {
  it("a chunk decodes to the header and bytes it was encoded from", () => {
    const data = chunk(5, 10);
    const decoded = decodeChunk(encodeChunk({ image: IMAGE, index: 4, sha256: sha(data) }, data));
    expect(decoded.header).toEqual({ image: IMAGE, index: 4, sha256: sha(data) });
    expect(decoded.data).toEqual(data);
    expect(() => decodeChunk(new Uint8Array([0, 0, 0, 99, 1]))).toThrow(/runs past/);
  });

  it("--to takes node:NAME, tag:TAG or all, and says what else it takes", () => {
    expect(parseImageTarget("tag:edge")).toEqual({ type: "tag", tag: "edge" });
    expect(parseImageTarget("node:n1")).toEqual({ type: "node", name: "n1" });
    expect(parseImageTarget("all")).toEqual({ type: "all" });
    expect(parseImageTarget("group:x")).toBe('--to "group:x": use node:NAME, tag:TAG or all');
    expect(targetIncludes({ type: "tag", tag: "edge" }, "n1", ["edge"])).toBe(true);
    expect(targetIncludes({ type: "node", name: "n2" }, "n1", ["edge"])).toBe(false);
  });

  it("the meter gives the recent rate and the time left", () => {
    const meter = new TransferMeter(10_000_000, 0);
    meter.record(1000, 2_000_000);
    meter.record(2000, 4_000_000);
    expect(meter.bytesPerSecond).toBe(2_000_000);
    expect(meter.etaSeconds).toBe(3);
  });
});
