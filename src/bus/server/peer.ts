// One connection as the node sees it: a wire, an incremental parser, a batched output queue with a hard
// byte limit (slow consumers are cut off, never buffered without bound) and liveness bookkeeping.

import { SilenceMeter } from "../liveness.js";
import type { BusMetrics } from "../metrics.js";
import {
  ErrorCode,
  type ErrorCodeValue,
  encodeControl,
  FrameParser,
  FrameType,
  ProtocolError,
} from "../protocol/index.js";
import type { Membership } from "../routing/interest.js";
import { type Grant, Permissions } from "./permissions.js";
import type { Wire } from "./wire.js";

/** How long a slow consumer has to read what was sent before its ERROR, and the ERROR. */
const SLOW_CONSUMER_GRACE_MS = 10_000;

export type PeerRole = "pending" | "client" | "child" | "parent";
export type PeerState = "connecting" | "authenticating" | "challenged" | "declaring" | "ready" | "closed";

export interface PeerOptions {
  maxFrameBytes: number;
  maxPendingBytes: number;
  metrics: BusMetrics;
  onFrame(peer: Peer, frame: Uint8Array): void;
  onClose(peer: Peer): void;
  onDrain(peer: Peer): void;
}

export class Peer implements Membership {
  role: PeerRole = "pending";
  state: PeerState = "connecting";
  name = "";
  /** A client's token's grant, set when it is admitted; links are trusted and never checked against it. */
  grant: Grant = { label: "", permissions: Permissions.none };
  /** Permissions this client was refused and the node logged: one line per permission and connection. */
  readonly refusalsLogged = new Set<string>();
  events = new Set<string>();
  tags = new Set<string>();
  groups = new Set<string>();
  channels = new Set<string>();
  /** Interest keys this client contributes to the node's table. */
  keys: string[] = [];
  /** Handshake scratch: our nonce and the peer's, for the challenge–response. */
  nonces: { mine: string; theirs: string } | undefined;
  /** On our link to a parent: the address we dialed, told to our children as their grandparent. */
  dialed: { host: string; port: number } | undefined;
  /** Frames that arrived while an asynchronous auth check was running. */
  held: Uint8Array[] = [];
  lastSeen = Date.now();
  lastSent = Date.now();
  readonly silence = new SilenceMeter(Date.now());
  closeReason: { code: string; message: string } | undefined;
  /** Congested links this peer's reading is paused for (back-pressure); it reads again when empty. */
  readonly pausedBy = new Set<Peer>();
  /** Senders paused because this link is congested. */
  readonly throttled = new Set<Peer>();

  private queue: Uint8Array[] = [];
  /** The open run of adjacent frames from one received chunk: its first frame and where it ends. */
  private runFirst: Uint8Array | undefined;
  private runEnd = 0;
  private queuedBytes = 0;
  private queuedFrames = 0;
  /** The wire's own backlog, read once per batch rather than once per frame. */
  private wireBacklog = 0;
  private scheduled = false;
  private readonly parser: FrameParser;
  private readonly flushNow = () => this.flush();

  constructor(
    readonly id: number,
    readonly wire: Wire,
    private readonly options: PeerOptions,
  ) {
    this.parser = new FrameParser({
      maxFrameBytes: options.maxFrameBytes,
      onFrame: (frame) => {
        options.metrics.framesIn++;
        options.onFrame(this, frame);
      },
    });
    wire.onData((chunk) => this.receive(chunk));
    wire.onDrain(() => options.onDrain(this));
    wire.onClose((error) => {
      if (this.state === "closed") return;
      this.state = "closed";
      this.closeReason ??= { code: "closed", message: error ? error.message : "connection closed" };
      this.queue = [];
      this.runFirst = undefined;
      options.onClose(this);
    });
  }

  /** Sets the largest frame this connection may send from now on, and why (for the refusal's message). */
  limitFrames(maxFrameBytes: number, why = ""): void {
    this.wire.limitInput(maxFrameBytes);
    this.parser.maxFrameBytes = maxFrameBytes;
    this.parser.limitNote = why;
  }

  get remote(): string {
    return this.wire.remote;
  }

  get isOpen(): boolean {
    return this.state !== "closed";
  }

  private receive(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastSeen = Date.now();
    this.options.metrics.bytesIn += chunk.length;
    try {
      this.parser.push(chunk);
    } catch (error) {
      this.options.metrics.protocolErrors++;
      if (error instanceof ProtocolError) this.fail(error.code, error.message);
      else this.fail(ErrorCode.protocolError, error instanceof Error ? error.message : String(error));
    }
  }

  /**
   * Queues a frame for the next flush. Returns false (and cuts the peer off) when over its byte limit.
   * Frames that lie next to each other in one received chunk (a run forwarded from the same sender) are
   * queued as one view of that chunk: the bytes go out untouched, without a copy.
   */
  send(frame: Uint8Array): boolean {
    if (this.state === "closed" || this.closeReason) return false;
    if (!this.scheduled) this.wireBacklog = this.wire.pendingBytes();
    if (this.queuedBytes + frame.length + this.wireBacklog > this.options.maxPendingBytes) {
      this.options.metrics.dropped++;
      this.options.metrics.slowConsumers++;
      this.fail(
        ErrorCode.slowConsumer,
        `output buffer over ${this.options.maxPendingBytes} bytes: the connection reads too slowly`,
      );
      return false;
    }
    const run = this.runFirst;
    if (run !== undefined && run.buffer === frame.buffer && this.runEnd === frame.byteOffset) {
      this.runEnd += frame.length;
    } else {
      this.closeRun();
      this.runFirst = frame;
      this.runEnd = frame.byteOffset + frame.length;
    }
    this.queuedBytes += frame.length;
    this.queuedFrames++;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
    return true;
  }

  /** Moves the open run into the queue, as one view over its frames. */
  private closeRun(): void {
    const first = this.runFirst;
    if (first === undefined) return;
    this.runFirst = undefined;
    const length = this.runEnd - first.byteOffset;
    this.queue.push(length === first.length ? first : Buffer.from(first.buffer, first.byteOffset, length));
  }

  /** Hands everything queued to the wire as one batch. */
  flush(): void {
    this.scheduled = false;
    this.closeRun();
    if (this.queue.length === 0 || this.state === "closed") return;
    const frames = this.queue;
    const bytes = this.queuedBytes;
    this.options.metrics.framesOut += this.queuedFrames;
    this.queue = [];
    this.queuedBytes = 0;
    this.queuedFrames = 0;
    this.options.metrics.bytesOut += bytes;
    this.lastSent = Date.now();
    this.wire.write(frames, bytes);
    this.wireBacklog = this.wire.pendingBytes();
    // The socket may take the whole batch at once, and then no "drain" ever comes for the senders we
    // paused on this link's queue.
    if (this.throttled.size > 0 && this.wire.pendingBytes() <= this.options.maxPendingBytes / 2) {
      this.options.onDrain(this);
    }
  }

  /** Output not yet handed to the kernel (the wire's part as of this batch's first frame). */
  pendingBytes(): number {
    return this.queuedBytes + (this.scheduled ? this.wireBacklog : this.wire.pendingBytes());
  }

  /** Sends an ERROR frame (bypassing the limit, after what is queued) and closes. */
  fail(code: ErrorCodeValue | string, message: string): void {
    if (this.state === "closed" || this.closeReason) return;
    this.closeReason = { code, message };
    // A slow consumer's queue is dropped: the error must not wait behind megabytes it will never read.
    if (code === ErrorCode.slowConsumer) {
      this.runFirst = undefined;
      this.queue = [];
      this.queuedBytes = 0;
      this.queuedFrames = 0;
    }
    this.closeRun();
    const error = encodeControl(FrameType.error, { code, message });
    this.queue.push(error);
    this.queuedBytes += error.length;
    this.queuedFrames++;
    this.flush();
    // A slow consumer reads its ERROR only after what the socket already holds for it: it is given
    // longer to get there than a peer that is merely refused.
    this.wire.end(code === ErrorCode.slowConsumer ? SLOW_CONSUMER_GRACE_MS : undefined);
  }

  /** Closes without an error frame. */
  destroy(code: string, message: string): void {
    this.closeReason ??= { code, message };
    this.wire.destroy();
  }
}
