// An engine's log output, cut into lines. Docker multiplexes stdout and stderr of a container
// without a terminal into frames (1 byte stream, 3 zero bytes, 4 bytes big-endian length, payload);
// a container with a terminal sends its bytes raw. Pure, so any chunking is a unit test.

export type LogStream = "stdout" | "stderr";
export type LogLine = { stream: LogStream; text: string };

/** A line longer than this is cut: one runaway line must not hold a node's memory. */
export const MAX_LOG_LINE_BYTES = 16 * 1024;

const HEADER_BYTES = 8;

export class LogLineSplitter {
  #pending: Buffer = Buffer.alloc(0);
  /** Unknown until the first bytes: framed (no terminal) or raw (a terminal). */
  #framed: boolean | undefined;
  readonly #partial: Record<LogStream, Buffer[]> = { stdout: [], stderr: [] };
  readonly #partialBytes: Record<LogStream, number> = { stdout: 0, stderr: 0 };

  /** The whole lines these bytes complete. */
  push(chunk: Buffer): LogLine[] {
    const lines: LogLine[] = [];
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#framed ??= this.#pending.length >= HEADER_BYTES ? looksFramed(this.#pending) : undefined;
    if (this.#framed === undefined) return lines;
    if (!this.#framed) {
      this.#take("stdout", this.#pending, lines);
      this.#pending = Buffer.alloc(0);
      return lines;
    }
    let offset = 0;
    while (this.#pending.length - offset >= HEADER_BYTES) {
      const size = this.#pending.readUInt32BE(offset + 4);
      if (this.#pending.length - offset - HEADER_BYTES < size) break;
      const stream: LogStream = this.#pending[offset] === 2 ? "stderr" : "stdout";
      this.#take(stream, this.#pending.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + size), lines);
      offset += HEADER_BYTES + size;
    }
    this.#pending = Buffer.from(this.#pending.subarray(offset));
    return lines;
  }

  /** What is left when the output ends: a last line without its newline. */
  end(): LogLine[] {
    const lines: LogLine[] = [];
    if (this.#framed === false || (this.#framed === undefined && this.#pending.length > 0))
      this.#take("stdout", this.#pending, lines);
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partialBytes[stream] > 0) lines.push(this.#line(stream));
    }
    this.#pending = Buffer.alloc(0);
    return lines;
  }

  #take(stream: LogStream, bytes: Buffer, lines: LogLine[]): void {
    let start = 0;
    for (let newline = bytes.indexOf(10, start); newline !== -1; newline = bytes.indexOf(10, start)) {
      this.#append(stream, bytes.subarray(start, newline), lines);
      lines.push(this.#line(stream));
      start = newline + 1;
    }
    this.#append(stream, bytes.subarray(start), lines);
  }

  /** Keeps part of a line, giving out a full-length piece whenever it reaches the limit. */
  #append(stream: LogStream, bytes: Buffer, lines: LogLine[]): void {
    let rest = bytes;
    while (this.#partialBytes[stream] + rest.length > MAX_LOG_LINE_BYTES) {
      const room = MAX_LOG_LINE_BYTES - this.#partialBytes[stream];
      this.#partial[stream].push(Buffer.from(rest.subarray(0, room)));
      this.#partialBytes[stream] += room;
      lines.push(this.#line(stream));
      rest = rest.subarray(room);
    }
    if (rest.length > 0) {
      this.#partial[stream].push(Buffer.from(rest));
      this.#partialBytes[stream] += rest.length;
    }
  }

  #line(stream: LogStream): LogLine {
    const text = Buffer.concat(this.#partial[stream]).toString("utf8").replace(/\r$/, "");
    this.#partial[stream] = [];
    this.#partialBytes[stream] = 0;
    return { stream, text };
  }
}

/** Docker's frame header: stream 0, 1 or 2, then three zero bytes. */
function looksFramed(bytes: Buffer): boolean {
  return (bytes[0] ?? 9) <= 2 && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0;
}
