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
import type { Wire } from "./wire.js";

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
  events = new Set<string>();
  tags = new Set<string>();
  groups = new Set<string>();
  channels = new Set<string>();
  /** Interest keys this client contributes to the node's table. */
  keys: string[] = [];
  /** Handshake scratch: our nonce and the peer's, for the challenge–response. */
  nonces: { mine: string; theirs: string } | undefined;
  /** Frames that arrived while an asynchronous auth check was running. */
  held: Uint8Array[] = [];
  lastSeen = Date.now();
  lastSent = Date.now();
  readonly silence = new SilenceMeter(Date.now());
  readonly connectedAt = Date.now();
  closeReason: { code: string; message: string } | undefined;
  /** Congested links this peer's reading is paused for (back-pressure); it reads again when empty. */
  readonly pausedBy = new Set<Peer>();
  /** Senders paused because this link is congested. */
  readonly throttled = new Set<Peer>();

  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
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
      options.onClose(this);
    });
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

  /** Queues a frame for the next flush. Returns false (and cuts the peer off) when over its byte limit. */
  send(frame: Uint8Array): boolean {
    if (this.state === "closed" || this.closeReason) return false;
    if (this.queuedBytes + frame.length + this.wire.pendingBytes() > this.options.maxPendingBytes) {
      this.options.metrics.dropped++;
      this.options.metrics.slowConsumers++;
      this.fail(
        ErrorCode.slowConsumer,
        `output buffer over ${this.options.maxPendingBytes} bytes: the connection reads too slowly`,
      );
      return false;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
    return true;
  }

  /** Hands everything queued to the wire as one batch. */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 || this.state === "closed") return;
    const frames = this.queue;
    const bytes = this.queuedBytes;
    this.queue = [];
    this.queuedBytes = 0;
    this.options.metrics.framesOut += frames.length;
    this.options.metrics.bytesOut += bytes;
    this.lastSent = Date.now();
    this.wire.write(frames, bytes);
    // The socket may take the whole batch at once, and then no "drain" ever comes for the senders we
    // paused on this link's queue.
    if (this.throttled.size > 0 && this.wire.pendingBytes() <= this.options.maxPendingBytes / 2) {
      this.options.onDrain(this);
    }
  }

  pendingBytes(): number {
    return this.queuedBytes + this.wire.pendingBytes();
  }

  /** Sends an ERROR frame (bypassing the limit, after what is queued) and closes. */
  fail(code: ErrorCodeValue | string, message: string): void {
    if (this.state === "closed" || this.closeReason) return;
    this.closeReason = { code, message };
    // A slow consumer's queue is dropped: the error must not wait behind megabytes it will never read.
    if (code === ErrorCode.slowConsumer) {
      this.queue = [];
      this.queuedBytes = 0;
    }
    this.queue.push(encodeControl(FrameType.error, { code, message }));
    this.flush();
    this.wire.end();
  }

  /** Closes without an error frame. */
  destroy(code: string, message: string): void {
    this.closeReason ??= { code, message };
    this.wire.destroy();
  }
}
