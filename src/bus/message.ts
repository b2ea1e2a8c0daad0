// What subscribers receive: the routing header decoded, the payload left as a view of the frame.
import { type RouteHeader, type Target, targetOf, utf8 } from "./protocol/frames.js";

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
}

const decoder = new TextDecoder();

export function toBytes(payload: Payload | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  return typeof payload === "string" ? utf8(payload) : payload;
}

export function createMessage(
  kind: Message["kind"],
  header: RouteHeader,
  data: Uint8Array,
  reply?: (payload: Payload) => void,
): Message {
  const message: Message = {
    kind,
    event: header.event,
    origin: header.origin,
    target: targetOf(header),
    data,
    text: () => decoder.decode(data),
    json: <T>() => JSON.parse(decoder.decode(data)) as T,
    ...(reply ? { reply } : {}),
  };
  return message;
}
