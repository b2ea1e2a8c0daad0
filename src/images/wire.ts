// The events that move an image down the tree, and their payloads. Every hop is the same exchange,
// from a sender (the CLI, or a node forwarding what it receives) to one receiving node:
//   image.offer  → does your subtree need this image ID? (the receiver asks its own children first)
//   image.chunk  → one chunk with its SHA-256; acknowledged once verified and on the receiver's disk
//   image.end    → no more chunks; answered when the receiver's subtree has loaded (or failed)
// A sender keeps a few chunks unacknowledged per link (its credit), so no link holds more than that.
import { utf8 } from "../bus/protocol/index.js";
import { IMAGE_PROGRESS_EVENT } from "../model/image-progress.js";

export const IMAGE_EVENTS = {
  offer: "image.offer",
  chunk: "image.chunk",
  end: "image.end",
  list: "image.list",
  fetch: "image.fetch",
  progress: IMAGE_PROGRESS_EVENT,
} as const;

/** Bytes of one chunk: small beside the bus's frame limit (8 MiB), large enough to keep overhead low. */
export const CHUNK_BYTES = 1024 * 1024;
/**
 * Chunks a sender keeps unacknowledged on one link: at most 4 MiB of image in flight per link, which is
 * also the most an event crossing that link can find queued ahead of it.
 */
export const CHUNK_CREDIT = 4;

/** Which nodes should end up with the image: `--to node:NAME|tag:TAG|all`. */
export type ImageTarget = { type: "all" } | { type: "node"; name: string } | { type: "tag"; tag: string };

export type ImageOffer = {
  /** The image ID (`sha256:…`): what a node's engine is asked about, and what names the transfer. */
  image: string;
  /** The name it was pushed by (`myapp:1.4`), tagged on every engine that loads it. */
  reference: string;
  target: ImageTarget;
  /** Bytes of the save stream when known (progress and ETA), else 0. */
  size: number;
};

export type OfferReply = {
  node: string;
  /** Send me the chunks: this node or one below it needs the image and this node cannot supply it. */
  need: boolean;
  /** Chunks this node already holds verified (a resumed transfer starts there). */
  confirmed: number;
  /** Nodes of the subtree that will load the image. */
  loading: string[];
  /** Target nodes of the subtree whose engine has the image already. */
  had: string[];
  /** Children that did not answer, with why: their subtrees get nothing. */
  unreachable: { node: string; reason: string }[];
};

export type ChunkHeader = { image: string; index: number; sha256: string };

/** `sha256`: the digest of the whole stream, SHA-256 over its chunks' SHA-256 digests in order. */
export type ImageEnd = { image: string; chunks: number; bytes: number; sha256: string };

export type NodeOutcome = "loaded" | "had" | "failed" | "unreachable";
export type NodeResult = { node: string; outcome: NodeOutcome; error?: string };
export type EndReply = { results: NodeResult[] };

export type { ImageProgress } from "../model/image-progress.js";

export type ImageListReply = {
  node: string;
  images: { id: string; tags: string[]; size: number }[];
  /** Its children linked now: the asker knows whose answers are still to come. */
  children: string[];
};

export type FetchRequest = { reference: string; for: string };
export type FetchReply = { image: string; results: NodeResult[] };

/** A chunk on the wire: u32 length of the JSON header, the header, then the chunk's bytes. */
export function encodeChunk(header: ChunkHeader, data: Uint8Array): Uint8Array {
  const { payload, data: room } = chunkPayload(header, data.length);
  room.set(data);
  return payload;
}

/** A chunk's payload with its header written and room for `size` bytes, to be read straight into. */
export function chunkPayload(header: ChunkHeader, size: number): { payload: Uint8Array; data: Uint8Array } {
  const head = utf8(JSON.stringify(header));
  const payload = new Uint8Array(4 + head.length + size);
  new DataView(payload.buffer).setUint32(0, head.length);
  payload.set(head, 4);
  return { payload, data: payload.subarray(4 + head.length) };
}

export function decodeChunk(payload: Uint8Array): { header: ChunkHeader; data: Uint8Array } {
  if (payload.length < 4) throw new Error("image chunk shorter than its header length");
  const length = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (4 + length > payload.length) throw new Error("image chunk header runs past the payload");
  const header = JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + length))) as ChunkHeader;
  if (
    typeof header.image !== "string" ||
    !Number.isInteger(header.index) ||
    typeof header.sha256 !== "string"
  )
    throw new Error("image chunk header lacks image, index or sha256");
  return { header, data: payload.subarray(4 + length) };
}

/** Parses `--to`: node:NAME, tag:TAG or all. */
export function parseImageTarget(text: string): ImageTarget | string {
  if (text === "all") return { type: "all" };
  const colon = text.indexOf(":");
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (colon > 0 && name !== "" && !/\s/.test(name)) {
    if (kind === "node") return { type: "node", name };
    if (kind === "tag") return { type: "tag", tag: name };
  }
  return `--to ${JSON.stringify(text)}: use node:NAME, tag:TAG or all`;
}

export function targetIncludes(target: ImageTarget, node: string, tags: readonly string[]): boolean {
  switch (target.type) {
    case "all":
      return true;
    case "node":
      return target.name === node;
    case "tag":
      return tags.includes(target.tag);
  }
}

/** Hex of an image ID, safe as a file name. */
export function imageFileName(image: string): string {
  return image.replace(/^sha256:/, "").replace(/[^0-9a-f]/gi, "");
}
