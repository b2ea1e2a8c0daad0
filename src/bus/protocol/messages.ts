// Bodies of the control frames (JSON) and their validation: a peer's bad input becomes a ProtocolError,
// never an exception escaping into the node.
import { ErrorCode, ProtocolError } from "./frames.js";

export interface ConnectBody {
  protocol: number;
  kind: "client" | "node";
  token?: string;
  name?: string;
  nonce?: string;
}
export interface ChallengeBody {
  name: string;
  nonce: string;
  proof: string;
}
export interface ProofBody {
  proof: string;
}
export interface Declaration {
  events: string[];
  tags: string[];
  groups: string[];
  channels: string[];
}
/** Where a node's own parent is reached: sent to its children, who fall back to it when the node dies. */
export interface GrandparentAddress {
  node: string;
  host: string;
  port: number;
}
export interface ReadyBody {
  node: string;
  connection: number;
  heartbeatMs: number;
  maxFrameBytes: number;
  /** On a node link only: the sender's parent, while it has one. */
  grandparent?: GrandparentAddress;
}
export interface InterestBody {
  add: string[];
  remove: string[];
}
export interface ErrorBody {
  code: string;
  message: string;
}
/** The payload of a REPLY flagged handlerError: the handler's message and its error's code, if any. */
export interface ReplyErrorBody {
  message: string;
  code?: string;
}

/** A handler's message can be anything it threw; the reply carrying it must stay a small frame. */
const MAX_REPLY_ERROR_CHARS = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fail(message: string): never {
  throw new ProtocolError(ErrorCode.protocolError, message);
}

function record(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    fail(`${what} body must be an object`);
  return body as Record<string, unknown>;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") fail(`${field} must be a string`);
  return value;
}

function requiredString(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") fail(`${field} must be a non-empty string`);
  return value;
}

/** Names (events, tags, groups, channels, nodes): no whitespace, no NUL, 1 to 255 characters. */
const NAME = /^[^\s\0]{1,255}$/;

export function isValidName(value: string): boolean {
  return NAME.test(value);
}

export function names(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(`${field} must be an array of names`);
  for (const item of value) {
    if (typeof item !== "string" || !NAME.test(item)) fail(`${field} holds an invalid name`);
  }
  return [...new Set(value as string[])];
}

export function parseConnect(body: unknown): ConnectBody {
  const r = record(body, "CONNECT");
  if (r.kind !== "client" && r.kind !== "node") fail('CONNECT kind must be "client" or "node"');
  const out: ConnectBody = { protocol: typeof r.protocol === "number" ? r.protocol : 0, kind: r.kind };
  const token = optionalString(r.token, "token");
  const name = optionalString(r.name, "name");
  const nonce = optionalString(r.nonce, "nonce");
  if (token !== undefined) out.token = token;
  if (name !== undefined) out.name = name;
  if (nonce !== undefined) out.nonce = nonce;
  return out;
}

export function parseChallenge(body: unknown): ChallengeBody {
  const r = record(body, "CHALLENGE");
  return {
    name: requiredString(r.name, "name"),
    nonce: requiredString(r.nonce, "nonce"),
    proof: requiredString(r.proof, "proof"),
  };
}

export function parseProof(body: unknown): ProofBody {
  return { proof: requiredString(record(body, "PROOF").proof, "proof") };
}

export function parseDeclaration(body: unknown): Declaration {
  const r = record(body, "DECLARE");
  return {
    events: names(r.events, "events"),
    tags: names(r.tags, "tags"),
    groups: names(r.groups, "groups"),
    channels: names(r.channels, "channels"),
  };
}

export function parseReady(body: unknown): ReadyBody {
  const r = record(body, "READY");
  return {
    node: requiredString(r.node, "node"),
    connection: typeof r.connection === "number" ? r.connection : 0,
    heartbeatMs: typeof r.heartbeatMs === "number" && r.heartbeatMs > 0 ? r.heartbeatMs : 1000,
    maxFrameBytes: typeof r.maxFrameBytes === "number" ? r.maxFrameBytes : 0,
    ...(r.grandparent === undefined ? {} : { grandparent: parseGrandparent(r.grandparent) }),
  };
}

function parseGrandparent(body: unknown): GrandparentAddress {
  const r = record(body, "READY grandparent");
  const port = r.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    fail("grandparent.port must be a whole number from 1 to 65535");
  const node = requiredString(r.node, "grandparent.node");
  if (!isValidName(node)) fail("grandparent.node must be a node name");
  return { node, host: requiredString(r.host, "grandparent.host"), port };
}

export function parseInterest(body: unknown): InterestBody {
  const r = record(body, "INTEREST");
  const list = (value: unknown, field: string): string[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
      fail(`${field} must be an array of strings`);
    }
    return value as string[];
  };
  return { add: list(r.add, "add"), remove: list(r.remove, "remove") };
}

export function parseError(body: unknown): ErrorBody {
  const r = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  return {
    code: typeof r.code === "string" ? r.code : "unknown",
    message: typeof r.message === "string" ? r.message : "",
  };
}

/** The payload of an error reply for what a request handler threw or rejected with. */
export function encodeReplyError(error: unknown): Uint8Array {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null | undefined)?.code;
  const body: ReplyErrorBody = { message: message.slice(0, MAX_REPLY_ERROR_CHARS) };
  if (typeof code === "string") body.code = code.slice(0, 255);
  return encoder.encode(JSON.stringify(body));
}

/** Reads an error reply's payload; one from another implementation that is not the JSON body is its text. */
export function decodeReplyError(payload: Uint8Array): ReplyErrorBody {
  const text = decoder.decode(payload);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { message: text };
  }
  const r = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const out: ReplyErrorBody = { message: typeof r.message === "string" ? r.message : text };
  if (typeof r.code === "string") out.code = r.code;
  return out;
}

/** The payload of a REPLY flagged deliveryReport: what one node did with a counted PUBLISH. */
export interface DeliveryReport {
  node: string;
  /** Clients and in-process subscribers on that node it was delivered to (for a probe: would have been). */
  subscribers: number;
  /** The nodes it forwarded the PUBLISH to over its links; each of them reports in turn. */
  forwardedTo: string[];
}

export function encodeDeliveryReport(report: DeliveryReport): Uint8Array {
  return encoder.encode(JSON.stringify(report));
}

/** Reads a delivery report; anything else is a protocol error (a node sent it, not a client). */
export function parseDeliveryReport(payload: Uint8Array): DeliveryReport {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(payload));
  } catch {
    fail("a delivery report is not JSON");
  }
  const r = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  if (typeof r.node !== "string" || r.node === "") fail("a delivery report needs node");
  if (typeof r.subscribers !== "number" || !Number.isInteger(r.subscribers) || r.subscribers < 0)
    fail("a delivery report needs subscribers, a whole number");
  return { node: r.node, subscribers: r.subscribers, forwardedTo: names(r.forwardedTo, "forwardedTo") };
}
