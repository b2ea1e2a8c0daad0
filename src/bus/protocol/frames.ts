// Frame layout and pure encoders/decoders. Routing needs only the header; the payload stays opaque bytes
// so a node forwards a frame exactly as it arrived. Browser-safe: Uint8Array, DataView, TextEncoder only.

/** Frame types. Values are part of the wire protocol (docs/PROTOCOL.md); never renumber. */
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

export const FrameFlag = { noResponders: 1 } as const;

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
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ProtocolError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "ProtocolError";
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

/** Encodes a PUBLISH, REQUEST or REPLY frame: the header, then the payload copied once. */
export function encodeRouted(
  type: FrameTypeCode,
  header: Partial<RouteHeader>,
  payload: Uint8Array,
  flags = 0,
): Uint8Array {
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
  const total = PREFIX_BYTES + headerBytes + payload.length;
  const frame = new Uint8Array(total);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint32(0, total - 4);
  frame[4] = type;
  frame[5] = flags;
  view.setUint16(6, headerBytes);
  view.setUint32(8, (header.id ?? 0) >>> 0);
  let offset = 12;
  for (const field of fields) {
    frame[offset++] = field.length;
    if (typeof field === "string") {
      for (let i = 0; i < field.length; i++) frame[offset++] = field.charCodeAt(i);
    } else {
      frame.set(field, offset);
      offset += field.length;
    }
  }
  frame.set(payload, offset);
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
  return frame.subarray(PREFIX_BYTES + headerLength(frame));
}

function readString(frame: Uint8Array, start: number, length: number): string {
  if (length === 0) return "";
  let out = "";
  for (let i = start; i < start + length; i++) {
    const byte = frame[i] ?? 0;
    if (byte > 0x7f) return decoder.decode(frame.subarray(start, start + length));
    out += String.fromCharCode(byte);
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
  const values: string[] = [];
  try {
    for (let i = 0; i < ROUTE_FIELDS.length; i++) {
      const length = frame[offset] ?? 0;
      offset += 1;
      if (offset + length > end)
        throw new ProtocolError(ErrorCode.protocolError, "header string overruns header");
      values.push(readString(frame, offset, length));
      offset += length;
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(ErrorCode.protocolError, "header string is not valid UTF-8", { cause: error });
  }
  const [event = "", origin = "", node = "", tag = "", group = "", channel = "", replyTo = ""] = values;
  if (event === "") throw new ProtocolError(ErrorCode.protocolError, "routed frame without an event name");
  return { id, event, origin, node, tag, group, channel, replyTo };
}

/** Parses the JSON body of a control frame. */
export function decodeControl(frame: Uint8Array): unknown {
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
