// Frame layout and pure encoders/decoders. Routing needs only the header; the payload stays opaque bytes
// so a node forwards a frame exactly as it arrived. Browser-safe: Uint8Array, DataView, TextEncoder only.

/** Frame types. Values are part of the wire protocol (docs/PROTOCOL.md); never renumber. */
import { TreescaleError } from "../../errors.js";
export const FrameType = {
  connect: 1,
  challenge: 2,
  proof: 3,
  declare: 4,
  ready: 5,
  publish: 6,
  request: 7,
  reply: 8,
  ping: 9,
  pong: 10,
  error: 11,
  interest: 12,
} as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

/**
 * REPLY flags: nothing matched the request (sent by a node), the responder's handler failed, or a node's
 * report of where a counted PUBLISH went (sent by nodes only).
 */
export const FrameFlag = { noResponders: 1, handlerError: 2, deliveryReport: 4 } as const;

/**
 * PUBLISH flags. `count`: every node the PUBLISH reaches reports to the publisher how many subscribers it
 * delivered it to and which links it forwarded it over. `probe` (with `count`): route and report as if
 * delivering, but deliver to nobody — how a publisher learns whether anyone would receive an event.
 */
export const PublishFlag = { count: 1, probe: 2 } as const;

/** u32 length + u8 type + u8 flags + u16 header length. */
export const PREFIX_BYTES = 8;
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
export const PROTOCOL_VERSION = 1;

/** Stable error codes carried by ERROR frames. */
export const ErrorCode = {
  authFailed: "auth_failed",
  protocolError: "protocol_error",
  frameTooLarge: "frame_too_large",
  slowConsumer: "slow_consumer",
  heartbeatTimeout: "heartbeat_timeout",
  notReady: "not_ready",
  nameConflict: "name_conflict",
  shuttingDown: "shutting_down",
  /** CONNECT (and for a client DECLARE) did not come within the node's handshake deadline. */
  handshakeTimeout: "handshake_timeout",
  /** The node holds too many connections that have not finished their handshake (in total or per address). */
  tooManyConnections: "too_many_connections",
  /** Too many failed authentications from this source address: retry later. */
  rateLimited: "rate_limited",
  /** A DECLARE over the node's limits on names or interest keys. */
  declarationTooLarge: "declaration_too_large",
  /** CONNECT named a protocol version this node does not speak. */
  unsupportedProtocol: "unsupported_protocol",
  /** The client's token does not allow what it declared or published; the message names the permission. */
  forbidden: "forbidden",
  /** The token this client was admitted with left the node's token file (or its permissions changed). */
  tokenRevoked: "token_revoked",
  /**
   * A child leaves this link on purpose to link elsewhere (back to its configured parent, or re-parented):
   * it is not down, and its parent publishes no node.down for it.
   */
  moved: "moved",
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ProtocolError extends TreescaleError {
  declare readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Where a publish or request should go, beyond its event name. Every given field must match (AND). */
export interface Target {
  node?: string;
  tag?: string;
  group?: string;
  channel?: string;
}

/** The routing header of PUBLISH, REQUEST and REPLY frames. Absent strings are "". */
export interface RouteHeader {
  id: number;
  event: string;
  origin: string;
  node: string;
  tag: string;
  group: string;
  channel: string;
  replyTo: string;
}

export const ROUTE_FIELDS = ["event", "origin", "node", "tag", "group", "channel", "replyTo"] as const;
const MAX_NAME_BYTES = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The routing header's bytes (id and fields), reusable by frames that share it. */
export function encodeRouteHeader(header: Partial<RouteHeader>): Uint8Array {
  const fields: (string | Uint8Array)[] = [];
  let headerBytes = 4;
  for (const name of ROUTE_FIELDS) {
    const value = header[name] ?? "";
    const encoded = isAscii(value) ? value : utf8(value);
    if (encoded.length > MAX_NAME_BYTES) {
      throw new ProtocolError(ErrorCode.protocolError, `${name} "${value.slice(0, 40)}…" exceeds 255 bytes`);
    }
    fields.push(encoded);
    headerBytes += 1 + encoded.length;
  }
  const out = new Uint8Array(headerBytes);
  const id = (header.id ?? 0) >>> 0;
  out[0] = id >>> 24;
  out[1] = (id >>> 16) & 0xff;
  out[2] = (id >>> 8) & 0xff;
  out[3] = id & 0xff;
  let offset = 4;
  for (const field of fields) {
    out[offset++] = field.length;
    if (typeof field === "string") {
      for (let i = 0; i < field.length; i++) out[offset++] = field.charCodeAt(i);
    } else {
      out.set(field, offset);
      offset += field.length;
    }
  }
  return out;
}

/** Bytes of a routed frame with this header and payload. */
export function routedLength(header: Uint8Array, payload: Uint8Array): number {
  return PREFIX_BYTES + header.length + payload.length;
}

/** Writes a routed frame into `out` at `offset` (room for routedLength bytes); returns the end offset. */
export function writeRouted(
  out: Uint8Array,
  offset: number,
  type: FrameTypeCode,
  header: Uint8Array,
  payload: Uint8Array,
  flags = 0,
): number {
  const length = PREFIX_BYTES - 4 + header.length + payload.length;
  out[offset] = length >>> 24;
  out[offset + 1] = (length >>> 16) & 0xff;
  out[offset + 2] = (length >>> 8) & 0xff;
  out[offset + 3] = length & 0xff;
  out[offset + 4] = type;
  out[offset + 5] = flags;
  out[offset + 6] = header.length >>> 8;
  out[offset + 7] = header.length & 0xff;
  out.set(header, offset + PREFIX_BYTES);
  out.set(payload, offset + PREFIX_BYTES + header.length);
  return offset + PREFIX_BYTES + header.length + payload.length;
}

/** Encodes a PUBLISH, REQUEST or REPLY frame: the header, then the payload copied once. */
export function encodeRouted(
  type: FrameTypeCode,
  header: Partial<RouteHeader>,
  payload: Uint8Array,
  flags = 0,
): Uint8Array {
  const headerBytes = encodeRouteHeader(header);
  const frame = new Uint8Array(routedLength(headerBytes, payload));
  writeRouted(frame, 0, type, headerBytes, payload, flags);
  return frame;
}

/** Encodes a control frame: no header, a UTF-8 JSON payload (or none). */
export function encodeControl(type: FrameTypeCode, body?: unknown): Uint8Array {
  const payload = body === undefined ? new Uint8Array(0) : utf8(JSON.stringify(body));
  const frame = new Uint8Array(PREFIX_BYTES + payload.length);
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setUint32(0, frame.length - 4);
  frame[4] = type;
  frame.set(payload, PREFIX_BYTES);
  return frame;
}

export function frameType(frame: Uint8Array): number {
  return frame[4] ?? 0;
}

export function frameFlags(frame: Uint8Array): number {
  return frame[5] ?? 0;
}

function headerLength(frame: Uint8Array): number {
  return ((frame[6] ?? 0) << 8) | (frame[7] ?? 0);
}

/** The opaque payload of any frame, as a view (no copy). */
export function payloadOf(frame: Uint8Array): Uint8Array {
  const start = PREFIX_BYTES + headerLength(frame);
  return new Uint8Array(frame.buffer, frame.byteOffset + start, Math.max(0, frame.length - start));
}

/**
 * Recently decoded header strings by their bytes: routing sees the same few names (events, nodes, tags)
 * in frame after frame, and a hit costs a byte comparison instead of building a string.
 */
const STRING_SLOTS = 512;
const MAX_CACHED_BYTES = 64;
const cachedBytes: (Uint8Array | undefined)[] = new Array(STRING_SLOTS);
const cachedStrings: string[] = new Array(STRING_SLOTS).fill("");

function readString(frame: Uint8Array, start: number, length: number): string {
  if (length === 0) return "";
  const end = start + length;
  const slot =
    (length * 31 +
      (frame[start] ?? 0) * 7 +
      (frame[end - 1] ?? 0) * 3 +
      (frame[start + (length >> 1)] ?? 0)) &
    (STRING_SLOTS - 1);
  const known = cachedBytes[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known[i] === frame[start + i]) i++;
    if (i === length) return cachedStrings[slot]!;
  }
  let out = "";
  for (let i = start; i < end; i++) {
    const byte = frame[i] ?? 0;
    if (byte > 0x7f) {
      out = decoder.decode(frame.subarray(start, end));
      break;
    }
    out += String.fromCharCode(byte);
  }
  if (length <= MAX_CACHED_BYTES) {
    cachedBytes[slot] = frame.slice(start, end);
    cachedStrings[slot] = out;
  }
  return out;
}

/** Reads the routing header. Throws ProtocolError on a header that does not fit its frame. */
export function decodeRoute(frame: Uint8Array): RouteHeader {
  const end = PREFIX_BYTES + headerLength(frame);
  if (end > frame.length || end < PREFIX_BYTES + 4 + ROUTE_FIELDS.length) {
    throw new ProtocolError(ErrorCode.protocolError, "routing header does not fit its frame");
  }
  const id =
    (((frame[8] ?? 0) << 24) | ((frame[9] ?? 0) << 16) | ((frame[10] ?? 0) << 8) | (frame[11] ?? 0)) >>> 0;
  let offset = 12;
  const field = (): string => {
    const length = frame[offset] ?? 0;
    const start = offset + 1;
    offset = start + length;
    if (offset > end) throw new ProtocolError(ErrorCode.protocolError, "header string overruns header");
    try {
      return readString(frame, start, length);
    } catch (error) {
      throw new ProtocolError(ErrorCode.protocolError, "header string is not valid UTF-8", { cause: error });
    }
  };
  // Object literal fields are evaluated in order, which is the wire order.
  const header: RouteHeader = {
    id,
    event: field(),
    origin: field(),
    node: field(),
    tag: field(),
    group: field(),
    channel: field(),
    replyTo: field(),
  };
  if (header.event === "")
    throw new ProtocolError(ErrorCode.protocolError, "routed frame without an event name");
  return header;
}

/**
 * Checks that a routing header is well formed (strings within the header, an event name) without decoding
 * it: for receivers that decode a header only when someone reads it. UTF-8 is checked by decodeRoute.
 */
export function checkRoute(frame: Uint8Array): void {
  const end = PREFIX_BYTES + headerLength(frame);
  if (end > frame.length || end < PREFIX_BYTES + 4 + ROUTE_FIELDS.length) {
    throw new ProtocolError(ErrorCode.protocolError, "routing header does not fit its frame");
  }
  if (frame[12] === 0) throw new ProtocolError(ErrorCode.protocolError, "routed frame without an event name");
  let offset = 12;
  for (let i = 0; i < ROUTE_FIELDS.length; i++) offset += 1 + (frame[offset] ?? 0);
  if (offset > end) throw new ProtocolError(ErrorCode.protocolError, "header string overruns header");
}

/** Parses the JSON body of a control frame; a control frame carries no routing header (hlen 0). */
export function decodeControl(frame: Uint8Array): unknown {
  if (headerLength(frame) !== 0) {
    throw new ProtocolError(ErrorCode.protocolError, `control frame type ${frameType(frame)} has a header`);
  }
  const payload = payloadOf(frame);
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new ProtocolError(ErrorCode.protocolError, "control frame body is not JSON", { cause: error });
  }
}

export function targetOf(header: RouteHeader): Target {
  const target: Target = {};
  if (header.node) target.node = header.node;
  if (header.tag) target.tag = header.tag;
  if (header.group) target.group = header.group;
  if (header.channel) target.channel = header.channel;
  return target;
}
