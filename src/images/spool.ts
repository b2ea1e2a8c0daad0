// An image on its way through one node, kept on disk: its chunks as they were verified, appended to
// `<id>.part`, and their SHA-256 and size, one line each, in `<id>.chunks`. The node loads into its
// engine and forwards to its children each at its own pace; a transfer cut off (a lost link, a killed
// node) resumes from what the files hold. The last few chunks stay in memory as they came, encoded for
// the wire: readers keeping up (the usual case) take them from there, shared by every child, and only
// one that fell behind reads the disk. Memory is those few chunks whatever the image's size.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { TreescaleError } from "../errors.js";
import { CHUNK_BYTES, CHUNK_CREDIT, chunkPayload, type ImageEnd, imageFileName } from "./wire.js";

/** The folder of a spool directory that holds source spools (filled from the node's own engine). */
export const SOURCES_DIR = "sources";

/** Chunks kept in memory after they are written: a link's credit, twice over. */
const RECENT_CHUNKS = 2 * CHUNK_CREDIT;

/** A chunk as it travels: its encoded payload (header and bytes) and the view of its bytes within it. */
export type EncodedChunk = { payload: Uint8Array; data: Uint8Array };

/** A chunk refused: its bytes do not match its hash, or it is not the next one. Never written. */
export class ChunkRefusedError extends TreescaleError {}

type Waiter = { index: number; resolve: (available: boolean) => void; reject: (error: Error) => void };

export class Spool {
  readonly #hashes: string[] = [];
  /** Offset of each chunk, and one past the last: offsets[i + 1] - offsets[i] is chunk i's size. */
  readonly #offsets: number[] = [0];
  #waiters: Waiter[] = [];
  readonly #recent = new Map<number, EncodedChunk>();
  #end: ImageEnd | undefined;
  #failure: Error | undefined;
  /** Appends run one after another, in the order they were asked for. */
  #writing: Promise<unknown> = Promise.resolve();
  /** A source's spool lives in a directory of its own, removed with it. */
  #ownDir: string | undefined;
  /** The data file is the source itself (an archive): its chunks are already where they belong. */
  #inPlace = false;

  private constructor(
    readonly image: string,
    readonly path: string,
    readonly data: FileHandle,
    /** `<id>.chunks`, open for appending: one line per chunk written; none over an archive. */
    readonly index: FileHandle | undefined,
    /** How many chunks the files held when opened: where a resumed transfer starts. */
    readonly resumedFrom: number,
  ) {}

  /** Opens the spool of `image` in `dir`, keeping the chunks a previous transfer completed. */
  static async open(dir: string, image: string): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, imageFileName(image));
    const data = await open(`${path}.part`, "a+");
    const size = (await data.stat()).size;
    const lines = (await readFile(`${path}.chunks`, "utf8").catch(() => "")).split("\n");
    const kept: { sha256: string; size: number }[] = [];
    let total = 0;
    for (const line of lines) {
      const [sha256, bytes] = line.split(" ");
      const chunk = Number(bytes);
      // A line without its bytes (the node died between the two writes) ends what was completed.
      if (!sha256 || !Number.isInteger(chunk) || chunk <= 0 || chunk > CHUNK_BYTES || total + chunk > size)
        break;
      // Checked again: the bytes a resumed transfer builds on are never read back unverified.
      const held = new Uint8Array(chunk);
      await data.read(held, 0, chunk, total);
      if (sha256Hex(held) !== sha256) break;
      kept.push({ sha256, size: chunk });
      total += chunk;
    }
    await data.truncate(total);
    await writeFile(`${path}.chunks`, kept.map((c) => `${c.sha256} ${c.size}\n`).join(""));
    const index = await open(`${path}.chunks`, "a");
    const spool = new Spool(image, path, data, index, kept.length);
    for (const chunk of kept) spool.#record(chunk.sha256, chunk.size);
    return spool;
  }

  get count(): number {
    return this.#hashes.length;
  }

  get bytes(): number {
    return this.#offsets[this.#offsets.length - 1]!;
  }

  get end(): ImageEnd | undefined {
    return this.#end;
  }

  /**
   * Verifies and appends chunk `index`. One already held is accepted again (a sender resending after
   * a lost acknowledgement); a gap or a hash mismatch is refused with ChunkRefusedError. `payload`, the
   * chunk as it arrived (its bytes being `data`), is what the node's children are sent.
   */
  append(index: number, data: Uint8Array, sha256: string, payload?: Uint8Array): Promise<void> {
    return this.#queue(async () => {
      if (index < this.count) return;
      if (index > this.count)
        throw new ChunkRefusedError(
          "CHUNK_OUT_OF_ORDER",
          `chunk ${index} refused: expected chunk ${this.count}`,
        );
      if (data.length === 0 || data.length > CHUNK_BYTES)
        throw new ChunkRefusedError("CHUNK_SIZE", `chunk ${index} refused: ${data.length} bytes`);
      const actual = sha256Hex(data);
      if (actual !== sha256)
        throw new ChunkRefusedError(
          "DIGEST_MISMATCH",
          `chunk ${index} refused: its SHA-256 is ${actual}, the sender's manifest says ${sha256}`,
        );
      await this.#write(payload ? { payload, data } : undefined, data, sha256);
    });
  }

  #queue(write: () => Promise<void>): Promise<void> {
    const writing = this.#writing.then(write);
    this.#writing = writing.catch(() => undefined);
    return writing;
  }

  /** Writes the next chunk, its hash known good (checked, or computed here from the engine's stream). */
  async #write(encoded: EncodedChunk | undefined, data: Uint8Array, sha256: string): Promise<void> {
    if (!this.#inPlace) await this.data.write(data, 0, data.length, this.bytes);
    await this.index?.write(`${sha256} ${data.length}\n`);
    if (encoded) {
      this.#recent.set(this.count, encoded);
      this.#recent.delete(this.count - RECENT_CHUNKS);
    }
    this.#record(sha256, data.length);
  }

  #record(sha256: string, size: number): void {
    this.#hashes.push(sha256);
    this.#offsets.push(this.bytes + size);
    this.#wake();
  }

  /**
   * Why the chunks held are not the stream the sender's end describes (count, bytes or digest), or
   * undefined when they are.
   */
  mismatch(end: ImageEnd): string | undefined {
    const digest = this.digest;
    if (this.count === end.chunks && this.bytes === end.bytes && digest === end.sha256) return undefined;
    return `image ${this.image}: the ${this.count} chunks received (${this.bytes} bytes) have the digest ${digest}, the sender's ${end.chunks} chunks (${end.bytes} bytes) ${end.sha256}`;
  }

  /** No chunk after the ones held: the sender said so (or, on a source, the save stream ended). */
  finish(end: ImageEnd): void {
    this.#end = end;
    this.#wake();
  }

  /** Ends every wait with `error`: the transfer failed where it came from. */
  fail(error: Error): void {
    this.#failure = error;
    this.#wake();
  }

  /** Resolves true once chunk `index` is held, false when the spool ended before it. */
  waitFor(index: number): Promise<boolean> {
    if (index < this.count) return Promise.resolve(true);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#end && index >= this.#end.chunks) return Promise.resolve(false);
    return new Promise((resolve, reject) => this.#waiters.push({ index, resolve, reject }));
  }

  #wake(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) this.waitFor(waiter.index).then(waiter.resolve, waiter.reject);
  }

  /** Bytes of chunk `index` (held already). */
  sizeOf(index: number): number {
    return this.#offsets[index + 1]! - this.#offsets[index]!;
  }

  hashOf(index: number): string {
    return this.#hashes[index]!;
  }

  /** Chunk `index` (held already) encoded for the wire: from memory when recent, else read from disk. */
  async encoded(index: number): Promise<EncodedChunk> {
    const recent = this.#recent.get(index);
    if (recent) return recent;
    const chunk = chunkPayload({ image: this.image, index, sha256: this.hashOf(index) }, this.sizeOf(index));
    await this.data.read(chunk.data, 0, chunk.data.length, this.#offsets[index]!);
    return chunk;
  }

  async read(index: number): Promise<{ data: Uint8Array; sha256: string }> {
    return { data: (await this.encoded(index)).data, sha256: this.hashOf(index) };
  }

  /** The digest of the whole stream: SHA-256 over the chunks' SHA-256 digests, in order. */
  get digest(): string {
    return streamDigest(this.#hashes);
  }

  /**
   * The chunks in order as they arrive, until the end. Each was checked against its SHA-256 when it
   * arrived; the last is handed on only after the digest of the whole stream matched the sender's, so
   * a stream that is not the one sent (a chunk missing, repeated or out of place) never completes a load.
   */
  async *stream(): AsyncIterable<Uint8Array> {
    let held: Uint8Array | undefined;
    for (let index = 0; await this.waitFor(index); index++) {
      const { data } = await this.read(index);
      if (held) yield held;
      held = data;
    }
    const actual = this.digest;
    const expected = this.#end?.sha256;
    if (actual !== expected || this.bytes !== this.#end?.bytes)
      throw new ChunkRefusedError(
        "DIGEST_MISMATCH",
        `image ${this.image}: the digest of the ${this.count} chunks received is ${actual}, the sender's is ${expected}`,
      );
    if (held) yield held;
  }

  async close(): Promise<void> {
    await this.#writing;
    await this.data.close().catch(() => undefined);
    await this.index?.close().catch(() => undefined);
  }

  /**
   * Closes and deletes the files: the image is loaded and forwarded, or the transfer abandoned. An
   * archive a spool was made over is only closed: it is the user's.
   */
  async remove(): Promise<void> {
    await this.close();
    if (this.#inPlace) return;
    await rm(`${this.path}.part`, { force: true });
    await rm(`${this.path}.chunks`, { force: true });
    if (this.#ownDir) await rm(this.#ownDir, { recursive: true, force: true });
  }

  /**
   * A source's spool: `tar` (a docker save stream) cut into chunks and hashed as it is written, in the
   * background; `filled` settles when the stream ended (the spool finished) or failed (the spool failed).
   */
  static async fill(
    dir: string,
    image: string,
    tar: AsyncIterable<Uint8Array>,
  ): Promise<{ spool: Spool; filled: Promise<void> }> {
    await mkdir(dir, { recursive: true });
    // A directory of its own: two pushes of one image from this engine must not share files.
    const own = await mkdtemp(join(dir, "source-"));
    const spool = await Spool.open(own, image);
    spool.#ownDir = own;
    return { spool, filled: spool.#fillFrom(tar) };
  }

  /**
   * A source's spool over an archive that already holds the stream (`docker save -o`): cut into chunks
   * and hashed as it is read, nothing copied to disk; a reader that fell behind reads the archive where
   * the chunk lies. The archive is never written or removed.
   */
  static async overArchive(path: string, image: string): Promise<{ spool: Spool; filled: Promise<void> }> {
    const spool = new Spool(image, path, await open(path, "r"), undefined, 0);
    spool.#inPlace = true;
    return { spool, filled: spool.#fillFrom(createReadStream(path, { highWaterMark: CHUNK_BYTES })) };
  }

  #fillFrom(tar: AsyncIterable<Uint8Array>): Promise<void> {
    const image = this.image;
    const filled = (async () => {
      const buffer = new Uint8Array(CHUNK_BYTES);
      let used = 0;
      // Each chunk is encoded once, here, and sent as it is to every child.
      const flush = async () => {
        const data = buffer.subarray(0, used);
        const sha256 = sha256Hex(data);
        const encoded = chunkPayload({ image, index: this.count, sha256 }, used);
        encoded.data.set(data);
        await this.#queue(() => this.#write(encoded, encoded.data, sha256));
        used = 0;
      };
      try {
        for await (const piece of tar) {
          let offset = 0;
          while (offset < piece.length) {
            const take = Math.min(CHUNK_BYTES - used, piece.length - offset);
            buffer.set(piece.subarray(offset, offset + take), used);
            used += take;
            offset += take;
            if (used === CHUNK_BYTES) await flush();
          }
        }
        if (used > 0) await flush();
        this.finish({ image, chunks: this.count, bytes: this.bytes, sha256: this.digest });
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    })();
    filled.catch(() => undefined);
    return filled;
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * SHA-256 over the chunks' digests: it pins the whole stream (every byte is checked against its chunk's
 * digest on arrival) without hashing the bytes a second time.
 */
export function streamDigest(chunkDigests: readonly string[]): string {
  const whole = createHash("sha256");
  for (const digest of chunkDigests) whole.update(Buffer.from(digest, "hex"));
  return whole.digest("hex");
}

/**
 * Removes what transfers of an earlier run left in `dir` that nobody will resume: its source spools (a
 * source refills from its engine) and received spools untouched for `idleMs` before `startedAt` (a
 * transfer idle that long is dropped). Anything written since `startedAt` is this run's and stays.
 */
export async function sweepSpools(dir: string, idleMs: number, startedAt: number): Promise<string[]> {
  const stale = async (path: string, before: number) => (await stat(path)).mtimeMs < before;
  const removed: string[] = [];
  const sources = join(dir, SOURCES_DIR);
  for (const name of await readdir(sources).catch(() => [] as string[])) {
    if (!(await stale(join(sources, name), startedAt))) continue;
    await rm(join(sources, name), { recursive: true, force: true });
    removed.push(join(SOURCES_DIR, name));
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!/\.(part|chunks)$/.test(name) || !(await stale(join(dir, name), startedAt - idleMs))) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
