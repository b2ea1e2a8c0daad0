// What subscribers receive: the routing header decoded, the payload left as a view of the frame.
import {
  decodeRoute,
  FrameFlag,
  payloadOf,
  type RouteHeader,
  type Target,
  targetOf,
  utf8,
} from "./protocol/frames.js";
import { encodeReplyError } from "./protocol/messages.js";

export type Payload = Uint8Array | string;

export interface Message {
  readonly kind: "publish" | "request";
  readonly event: string;
  /** The node where the message entered the tree. */
  readonly origin: string;
  readonly target: Target;
  readonly data: Uint8Array;
  text(): string;
  json<T = unknown>(): T;
  /** Answers a request; absent on plain publishes. */
  readonly reply?: (payload: Payload) => void;
  /**
   * Answers a request with an error instead (its message, and its `code` when a string): the requester's
   * request() rejects with RequestHandlerError. Absent on plain publishes.
   */
  readonly replyError?: (error: unknown) => void;
}

/** Sends a REPLY to the request a message carries: its payload and flags (0, or FrameFlag.handlerError). */
export type Respond = (payload: Uint8Array, flags: number) => void;

const decoder = new TextDecoder();

export function toBytes(payload: Payload | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  return typeof payload === "string" ? utf8(payload) : payload;
}

class BusMessage implements Message {
  readonly reply?: (payload: Payload) => void;
  readonly replyError?: (error: unknown) => void;
  private decoded: RouteHeader | undefined;
  constructor(
    readonly kind: Message["kind"],
    /** The frame whose header is decoded on first use, when no decoded header was given. */
    private readonly frame: Uint8Array | undefined,
    header: RouteHeader | undefined,
    readonly data: Uint8Array,
    respond?: Respond,
  ) {
    this.decoded = header;
    if (respond) {
      this.reply = (payload) => respond(toBytes(payload), 0);
      this.replyError = (error) => respond(encodeReplyError(error), FrameFlag.handlerError);
    }
  }
  private get header(): RouteHeader {
    this.decoded ??= decodeRoute(this.frame ?? new Uint8Array(0));
    return this.decoded;
  }
  get event(): string {
    return this.header.event;
  }
  get origin(): string {
    return this.header.origin;
  }
  get target(): Target {
    return targetOf(this.header);
  }
  text(): string {
    return decoder.decode(this.data);
  }
  json<T = unknown>(): T {
    return JSON.parse(decoder.decode(this.data)) as T;
  }
}

export function createMessage(
  kind: Message["kind"],
  header: RouteHeader,
  data: Uint8Array,
  respond?: Respond,
): Message {
  return new BusMessage(kind, undefined, header, data, respond);
}

/**
 * A message whose header is decoded when first read: a subscriber that only looks at the payload pays for
 * no strings. The caller has checked the frame with checkRoute.
 */
export function createMessageOf(kind: Message["kind"], frame: Uint8Array, respond?: Respond): Message {
  return new BusMessage(kind, frame, undefined, payloadOf(frame), respond);
}
