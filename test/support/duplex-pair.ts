// In-memory socket pairs for bus unit tests, after ws's test/duplex-pair.js: what one end writes the other
// reads, later (never inside the write call, as with a kernel socket) and with back-pressure, so the real
// SocketWire and the client's socket transport run over them without a port or a process.
import { Duplex } from "node:stream";

/** Cuts one write into the chunks the other end reads, e.g. one byte each. */
export type Split = (chunk: Uint8Array) => Uint8Array[];

let nextPort = 1;

export class MemorySocket extends Duplex {
  readonly remoteAddress = "memory";
  readonly remotePort = nextPort++;
  /** How what this end writes reaches the other; a test may change it at any point. */
  split: Split | undefined;
  peer: MemorySocket | undefined;
  /** The other end's write, held until this end reads again (its readable buffer was full). */
  private heldWrite: (() => void) | undefined;
  private endSent = false;

  constructor() {
    // As net.Socket: the end of the peer's stream ends ours too.
    super({ allowHalfOpen: false });
  }

  setNoDelay(): this {
    return this;
  }

  override _read(): void {
    const resume = this.heldWrite;
    this.heldWrite = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const pieces = this.split ? this.split(chunk) : [chunk];
    setImmediate(() => {
      const peer = this.peer;
      // Bytes sent to a closed end are lost, as on a reset connection.
      if (!peer || peer.destroyed || this.endSent) {
        callback();
        return;
      }
      let room = true;
      for (const piece of pieces) if (piece.length > 0) room = peer.push(piece);
      if (room) callback();
      else peer.heldWrite = () => callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    // After every write: the _write callbacks have all run by now.
    setImmediate(() => {
      this.sendEnd();
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Bytes already written are on their way (in the kernel, for a socket): they arrive before the end.
    setImmediate(() => this.sendEnd());
    // A writer waiting for us to read must not wait forever.
    this._read();
    callback(error);
  }

  private sendEnd(): void {
    const peer = this.peer;
    if (this.endSent || !peer || peer.destroyed) return;
    this.endSent = true;
    peer.push(null);
  }
}

/** Two connected ends. */
export function duplexPair(): [MemorySocket, MemorySocket] {
  const a = new MemorySocket();
  const b = new MemorySocket();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** A Split delivering every byte as a chunk of its own. */
export const byteByByte: Split = (chunk) => Array.from(chunk, (byte) => Uint8Array.of(byte));
