// The node side of one connection's byte stream: TCP/TLS sockets and WebSockets behind one narrow
// interface, with writes batched once per microtask into a single socket write.
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import type { WebSocket } from "ws";
import type { SlabReads } from "../slab-reads.js";

/** What SocketWire uses of a socket: a net or TLS socket, or an in-memory stream pair in unit tests. */
export type StreamSocket = Duplex & {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  setNoDelay(noDelay?: boolean): unknown;
};

export interface Wire {
  /** The peer as logged: address and port. */
  readonly remote: string;
  /** The peer's source address alone: what per-address limits count by. */
  readonly address: string;
  /**
   * Whether a node link may run over this wire. A WebSocket cannot: it reports no drain, and a link's
   * back-pressure (see back-pressure.ts) waits on one.
   */
  readonly carriesNodeLinks: boolean;
  /** Writes a batch of frames as one unit. */
  write(frames: Uint8Array[], bytes: number): void;
  /** Bytes accepted but not yet handed to the kernel. */
  pendingBytes(): number;
  /**
   * Flushes what is written, then closes; a peer that has not read it all within `graceMs` is cut off,
   * so that one that never reads cannot keep the socket half-open forever.
   */
  end(graceMs?: number): void;
  destroy(): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  onClose(listener: (error?: Error) => void): void;
  /** Stops and restarts reading (back-pressure toward a sender while a link it feeds is congested). */
  pause(): void;
  resume(): void;
  /** Called when the output buffer has drained to the kernel. */
  onDrain(listener: () => void): void;
  /**
   * Bounds the input this wire holds before handing it on, for frames of at most `maxFrameBytes`. A socket
   * hands on every chunk as it comes (the frame parser refuses a large frame at its length prefix); a
   * WebSocket gathers whole messages, so it must refuse a large one while it arrives.
   */
  limitInput(maxFrameBytes: number): void;
  /** For TLS wires: whether the peer presented a certificate signed by our CA. */
  readonly authorizedPeer: boolean;
  /** Why the peer's certificate was not accepted, for the log (empty when it was). */
  readonly certificateProblem: string;
}

/**
 * A batch of many small pieces (control frames, frames from different senders) is copied into one buffer,
 * cheaper than a writev of many; a batch of few pieces (runs of frames forwarded as views of the chunks
 * they arrived in) or of many bytes goes out as a writev, without a copy.
 */
const CONCAT_LIMIT = 64 * 1024;
const DEFAULT_END_GRACE_MS = 2000;
const WRITEV_PIECES = 8;

export class SocketWire implements Wire {
  readonly remote: string;
  readonly address: string;
  readonly carriesNodeLinks = true;
  readonly authorizedPeer: boolean;
  readonly certificateProblem: string;
  /** `reads`: where a socket made with `onread` (slab-reads.ts) hands its chunks; they come as 'data' otherwise. */
  constructor(
    private readonly socket: StreamSocket,
    private readonly reads?: SlabReads,
  ) {
    this.address = socket.remoteAddress ?? "?";
    this.remote = `${this.address}:${socket.remotePort ?? 0}`;
    this.authorizedPeer = socket instanceof TLSSocket && socket.authorized;
    this.certificateProblem = this.authorizedPeer ? "" : describeCertificateProblem(socket);
    socket.setNoDelay(true);
  }

  write(frames: Uint8Array[], bytes: number): void {
    if (this.socket.destroyed) return;
    if (frames.length === 1) {
      this.socket.write(frames[0]!);
    } else if (frames.length > WRITEV_PIECES && bytes <= CONCAT_LIMIT) {
      this.socket.write(Buffer.concat(frames, bytes));
    } else {
      this.socket.cork();
      for (const frame of frames) this.socket.write(frame);
      this.socket.uncork();
    }
  }

  pendingBytes(): number {
    return this.socket.writableLength;
  }

  end(graceMs = DEFAULT_END_GRACE_MS): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), graceMs).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  limitInput(): void {
    // Nothing is held here: every chunk goes to the frame parser at once, which enforces the limit.
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  onDrain(listener: () => void): void {
    this.socket.on("drain", listener);
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    if (this.reads) this.reads.onData(listener);
    else this.socket.on("data", listener);
  }

  onClose(listener: (error?: Error) => void): void {
    let failure: Error | undefined;
    this.socket.on("error", (error) => {
      failure = error;
    });
    this.socket.on("close", () => listener(failure));
  }
}

/** The peer's certificate subject and the verifier's verdict, e.g. `"CN=x": self-signed certificate`. */
function describeCertificateProblem(socket: StreamSocket): string {
  if (!(socket instanceof TLSSocket)) return "the connection is not TLS";
  const certificate = socket.getPeerCertificate();
  const commonName = certificate?.subject?.CN;
  if (!certificate || Object.keys(certificate).length === 0) return "no client certificate was presented";
  const verdict = socket.authorizationError as (Error & { code?: string }) | string | null;
  const reason =
    verdict instanceof Error
      ? `${verdict.message}${verdict.code ? ` (${verdict.code})` : ""}`
      : String(verdict ?? "not verified");
  return `certificate${commonName ? ` "CN=${commonName}"` : ""} not accepted: ${reason}`;
}

/**
 * Frames one WebSocket message may carry within the limit: a client sends CONNECT and DECLARE in one.
 * Beyond them, room for the WebSocket's own framing.
 */
const FRAMES_PER_MESSAGE = 2;
const FRAMING_BYTES = 1024;

export class WebSocketWire implements Wire {
  readonly authorizedPeer = false;
  readonly certificateProblem = "a WebSocket carries no client certificate";
  readonly carriesNodeLinks = false;
  readonly remote: string;
  /** Bytes read from the socket since the last whole message: what the ws library holds for us. */
  private held = 0;
  private maxHeldBytes = Number.POSITIVE_INFINITY;
  private overLimit: Error | undefined;

  /** `raw` is the upgraded socket under `socket`: its bytes are counted as they arrive, before ws gathers them. */
  constructor(
    private readonly socket: WebSocket,
    raw: Duplex,
    readonly address: string,
    port: number,
  ) {
    this.remote = `ws:${address}:${port}`;
    raw.on("data", (chunk: Buffer) => {
      this.held += chunk.length;
      if (this.held <= this.maxHeldBytes || this.overLimit) return;
      // ws would buffer up to its maxPayload (the full frame limit) before we could see a byte of it:
      // cut the socket now, so that an unauthenticated peer holds the limit at most (plus one read).
      this.overLimit = new Error(
        `a WebSocket message of over ${this.maxHeldBytes} bytes before READY (the node's handshake frame limit)`,
      );
      this.socket.terminate();
    });
  }

  limitInput(maxFrameBytes: number): void {
    this.maxHeldBytes = FRAMES_PER_MESSAGE * maxFrameBytes + FRAMING_BYTES;
  }

  write(frames: Uint8Array[], bytes: number): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes), { binary: true });
  }

  pendingBytes(): number {
    return this.socket.bufferedAmount;
  }

  end(graceMs = DEFAULT_END_GRACE_MS): void {
    this.socket.close(1000);
    setTimeout(() => this.socket.terminate(), graceMs).unref();
  }

  destroy(): void {
    this.socket.terminate();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  onDrain(): void {
    // Node links are TCP/TLS only; a WebSocket is never a link that others wait on.
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.socket.on("message", (data, isBinary) => {
      this.held = 0;
      if (!isBinary) {
        listener(new Uint8Array(0));
        return;
      }
      if (Array.isArray(data)) for (const part of data) listener(part);
      else if (data instanceof ArrayBuffer) listener(new Uint8Array(data));
      else listener(data);
    });
  }

  onClose(listener: (error?: Error) => void): void {
    let failure: Error | undefined;
    this.socket.on("error", (error) => {
      failure = error;
    });
    this.socket.on("close", () => listener(this.overLimit ?? failure));
  }
}
