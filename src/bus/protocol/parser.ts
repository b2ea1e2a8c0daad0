// Incremental frame parser: a state machine over chunks that survives any chunk boundary and refuses an
// oversized frame as soon as its length prefix is known, before buffering its body. Frames lying within
// one chunk are emitted as views of it; only a frame split across chunks is copied, into its own buffer.
import { ErrorCode, PREFIX_BYTES, ProtocolError } from "./frames.js";

export interface ParserOptions {
  maxFrameBytes: number;
  onFrame(frame: Uint8Array): void;
}

export class FrameParser {
  /** May change between frames: a node accepts small frames until READY, then its full limit. */
  maxFrameBytes: number;
  private readonly onFrame: (frame: Uint8Array) => void;
  /** The first bytes of a length prefix split across chunks. */
  private readonly prefix = new Uint8Array(4);
  private prefixFilled = 0;
  /** A frame split across chunks, allocated at its full size once its length is known. */
  private partial: Uint8Array | undefined;
  private partialFilled = 0;
  private failed = false;
  /** Why the current maximum applies, appended to the refusal (e.g. "before READY"). */
  limitNote = "";

  constructor(options: ParserOptions) {
    this.maxFrameBytes = options.maxFrameBytes;
    this.onFrame = options.onFrame;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.prefixFilled + this.partialFilled;
  }

  /**
   * Feeds bytes. Emits every complete frame (a view of the input where the frame lies within one chunk).
   * Throws ProtocolError on a frame over the maximum or a malformed prefix; the parser is then unusable.
   */
  push(chunk: Uint8Array): void {
    if (this.failed) throw new ProtocolError(ErrorCode.protocolError, "parser used after an error");
    let offset = 0;
    if (this.prefixFilled > 0) {
      const take = Math.min(4 - this.prefixFilled, chunk.length);
      this.prefix.set(chunk.subarray(0, take), this.prefixFilled);
      this.prefixFilled += take;
      offset = take;
      if (this.prefixFilled < 4) return;
      this.partial = new Uint8Array(4 + this.checkedLength(this.prefix, 0));
      this.partial.set(this.prefix);
      this.partialFilled = 4;
      this.prefixFilled = 0;
    }
    const partial = this.partial;
    if (partial) {
      const take = Math.min(partial.length - this.partialFilled, chunk.length - offset);
      partial.set(chunk.subarray(offset, offset + take), this.partialFilled);
      this.partialFilled += take;
      offset += take;
      if (this.partialFilled < partial.length) return;
      this.partial = undefined;
      this.partialFilled = 0;
      this.checkHeader(partial, 0, partial.length);
      this.onFrame(partial);
    }
    offset = this.scan(chunk, offset);
    const rest = chunk.length - offset;
    if (rest === 0) return;
    if (rest < 4) {
      this.prefix.set(chunk.subarray(offset));
      this.prefixFilled = rest;
      return;
    }
    this.partial = new Uint8Array(4 + this.checkedLength(chunk, offset));
    this.partial.set(chunk.subarray(offset));
    this.partialFilled = rest;
  }

  private checkedLength(data: Uint8Array, offset: number): number {
    const length =
      (((data[offset] ?? 0) << 24) |
        ((data[offset + 1] ?? 0) << 16) |
        ((data[offset + 2] ?? 0) << 8) |
        (data[offset + 3] ?? 0)) >>>
      0;
    if (length + 4 > this.maxFrameBytes) {
      this.failed = true;
      throw new ProtocolError(
        ErrorCode.frameTooLarge,
        `frame of ${length + 4} bytes exceeds the maximum of ${this.maxFrameBytes}${this.limitNote}`,
      );
    }
    if (length < PREFIX_BYTES - 4) {
      this.failed = true;
      throw new ProtocolError(
        ErrorCode.protocolError,
        `frame length ${length} is shorter than a frame prefix`,
      );
    }
    return length;
  }

  private checkHeader(data: Uint8Array, offset: number, end: number): void {
    if (offset + PREFIX_BYTES + (((data[offset + 6] ?? 0) << 8) | (data[offset + 7] ?? 0)) > end) {
      this.failed = true;
      throw new ProtocolError(ErrorCode.protocolError, "header length exceeds frame length");
    }
  }

  /** Emits the whole frames from `offset` on; returns where the first incomplete one starts. */
  private scan(data: Uint8Array, offset: number): number {
    while (data.length - offset >= 4) {
      const end = offset + 4 + this.checkedLength(data, offset);
      if (end > data.length) break;
      this.checkHeader(data, offset, end);
      // A plain view: Buffer#subarray (species lookup, FastBuffer) costs more per frame.
      this.onFrame(new Uint8Array(data.buffer, data.byteOffset + offset, end - offset));
      offset = end;
    }
    return offset;
  }
}
