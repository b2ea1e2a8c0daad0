// Incremental frame parser: a state machine over buffered chunks that survives any chunk boundary and
// refuses an oversized frame as soon as its length prefix is known, before buffering its body.
import { ErrorCode, PREFIX_BYTES, ProtocolError } from "./frames.js";

export interface ParserOptions {
  maxFrameBytes: number;
  onFrame(frame: Uint8Array): void;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export class FrameParser {
  private readonly maxFrameBytes: number;
  private readonly onFrame: (frame: Uint8Array) => void;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Bytes needed before the buffered chunks can be scanned again: 4 for a prefix, or a whole frame. */
  private needed = 4;
  private failed = false;

  constructor(options: ParserOptions) {
    this.maxFrameBytes = options.maxFrameBytes;
    this.onFrame = options.onFrame;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds bytes. Emits every complete frame (a view of the input where the frame lies within one chunk).
   * Throws ProtocolError on a frame over the maximum or a malformed prefix; the parser is then unusable.
   */
  push(chunk: Uint8Array): void {
    if (this.failed) throw new ProtocolError(ErrorCode.protocolError, "parser used after an error");
    if (chunk.length === 0) return;
    let data: Uint8Array;
    if (this.buffered === 0) {
      data = chunk;
    } else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered < this.needed) return;
      data = concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    const consumed = this.scan(data);
    if (consumed < data.length) {
      const rest = data.subarray(consumed);
      this.chunks = [rest];
      this.buffered = rest.length;
      this.needed = rest.length >= 4 ? 4 + this.checkedLength(rest, 0) : 4;
    } else {
      this.needed = 4;
    }
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
        `frame of ${length + 4} bytes exceeds the maximum of ${this.maxFrameBytes}`,
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

  private scan(data: Uint8Array): number {
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = this.checkedLength(data, offset);
      const end = offset + 4 + length;
      if (end > data.length) break;
      const headerEnd = offset + PREFIX_BYTES + (((data[offset + 6] ?? 0) << 8) | (data[offset + 7] ?? 0));
      if (headerEnd > end) {
        this.failed = true;
        throw new ProtocolError(ErrorCode.protocolError, "header length exceeds frame length");
      }
      this.onFrame(data.subarray(offset, end));
      offset = end;
    }
    return offset;
  }
}
