// The image a `docker save` archive holds, read from its manifest.json without reading its layers: the
// tar's headers are walked by seeking past each member's contents, so an archive of gigabytes costs a
// few small reads (the manifest comes last in what docker save writes, after every layer).
import { type FileHandle, open } from "node:fs/promises";
import { TreescaleError } from "../errors.js";

export type SavedImage = {
  /** The image ID (`sha256:…`): the digest of its config, as the engine that loads it will name it. */
  id: string;
  /** The first name the archive tags it with, else the ID. */
  reference: string;
  /** Bytes of the archive: the stream a push sends. */
  size: number;
};

export class ImageArchiveError extends TreescaleError {
  constructor(path: string, problem: string) {
    super("IMAGE_ARCHIVE", `${path}: ${problem}`);
  }
}

const BLOCK = 512;
/** A manifest.json larger than this is not one docker wrote. */
const MANIFEST_LIMIT = 1024 * 1024;

type Entry = { name: string; type: string; size: number; offset: number };

export async function readSavedImage(path: string): Promise<SavedImage> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (error) {
    throw new ImageArchiveError(path, `cannot read it: ${(error as Error).message}`);
  }
  try {
    const { size } = await file.stat();
    const manifest = await findMember(file, path, size, "manifest.json");
    if (!manifest)
      throw new ImageArchiveError(path, "no manifest.json in it: not an archive `docker save` wrote");
    if (manifest.size > MANIFEST_LIMIT)
      throw new ImageArchiveError(path, `its manifest.json is ${manifest.size} bytes: not one docker wrote`);
    const text = Buffer.alloc(manifest.size);
    await file.read(text, 0, manifest.size, manifest.offset);
    return { ...imageOf(path, text.toString("utf8")), size };
  } finally {
    await file.close();
  }
}

function imageOf(path: string, manifest: string): Omit<SavedImage, "size"> {
  let images: unknown;
  try {
    images = JSON.parse(manifest);
  } catch (error) {
    throw new ImageArchiveError(path, `its manifest.json is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(images) || images.length === 0)
    throw new ImageArchiveError(path, "its manifest.json lists no image");
  if (images.length > 1)
    throw new ImageArchiveError(
      path,
      `it holds ${images.length} images: push one at a time (docker save -o FILE IMAGE)`,
    );
  const [image] = images as { Config?: unknown; RepoTags?: unknown }[];
  // "<hex>.json" in the classic layout, "blobs/sha256/<hex>" in the OCI one of newer engines.
  const hex =
    typeof image?.Config === "string" ? /([0-9a-f]{64})(\.json)?$/.exec(image.Config)?.[1] : undefined;
  if (!hex) throw new ImageArchiveError(path, "its manifest.json names no config digest (Config)");
  const id = `sha256:${hex}`;
  const tags = Array.isArray(image?.RepoTags) ? image.RepoTags.filter((t) => typeof t === "string") : [];
  return { id, reference: tags[0] ?? id };
}

/** The member named `wanted`, found by reading headers only; undefined at the archive's end. */
async function findMember(
  file: FileHandle,
  path: string,
  size: number,
  wanted: string,
): Promise<Entry | undefined> {
  const header = Buffer.alloc(BLOCK);
  let offset = 0;
  // A PAX or GNU long-name record names the member that follows it.
  let longName: string | undefined;
  while (offset + BLOCK <= size) {
    await file.read(header, 0, BLOCK, offset);
    if (header.every((byte) => byte === 0)) return undefined;
    const entry = parseHeader(path, header, offset);
    const name = longName ?? entry.name;
    longName = undefined;
    if (entry.type === "x" || entry.type === "L") {
      const record = Buffer.alloc(Math.min(entry.size, MANIFEST_LIMIT));
      await file.read(record, 0, record.length, entry.offset);
      const text = record.toString("utf8");
      longName =
        entry.type === "L" ? text.replace(/\0.*$/s, "") : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1];
    } else if (name.replace(/^\.\//, "") === wanted && (entry.type === "0" || entry.type === "\0")) {
      return { ...entry, name };
    }
    offset = entry.offset + Math.ceil(entry.size / BLOCK) * BLOCK;
  }
  return undefined;
}

function parseHeader(path: string, header: Buffer, at: number): Entry {
  const text = (start: number, length: number) =>
    header.toString("utf8", start, start + length).replace(/\0.*$/s, "");
  // The checksum counts its own 8 bytes as spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += header[i]!;
  if (Number.parseInt(text(148, 8).trim(), 8) !== sum)
    throw new ImageArchiveError(path, `not a tar archive (a bad header checksum at byte ${at})`);
  const ustar = text(257, 5) === "ustar";
  const name = ustar && text(345, 155) ? `${text(345, 155)}/${text(0, 100)}` : text(0, 100);
  let size: number;
  if ((header[124]! & 0x80) !== 0) {
    // Base-256, for members of 8 GiB and more.
    size = 0;
    for (let i = 125; i < 136; i++) size = size * 256 + header[i]!;
  } else {
    size = Number.parseInt(text(124, 12).trim() || "0", 8);
  }
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ImageArchiveError(path, `not a tar archive (a bad member size at byte ${at})`);
  return { name, type: String.fromCharCode(header[156]!), size, offset: at + BLOCK };
}
