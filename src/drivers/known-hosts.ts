// OpenSSH's known_hosts, read and appended the way ssh(1) does: a host on port 22 is looked up as
// `host`, on any other port as `[host]:port`; patterns may be hashed (`|1|salt|hash`), wildcards or
// negated; a key is known when its blob equals a recorded one. Parsing and checking are pure.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export type KnownHostEntry = {
  /** 1-based line number in the file, for messages. */
  line: number;
  marker?: "cert-authority" | "revoked";
  /** The comma-separated host patterns as written (hashed or not). */
  patterns: string;
  keyType: string;
  key: Buffer;
};

export type HostKeyVerdict =
  | { type: "known"; entry: KnownHostEntry }
  | { type: "unknown" }
  /** Entries name the host but none holds this key. */
  | { type: "changed"; entries: KnownHostEntry[] }
  | { type: "revoked"; entry: KnownHostEntry };

export const DEFAULT_SSH_PORT = 22;

export function defaultKnownHostsPath(): string {
  return join(homedir(), ".ssh", "known_hosts");
}

/** Every well-formed line; comments, blank lines and lines that do not parse are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) return;
    let marker: KnownHostEntry["marker"];
    if (fields[0].startsWith("@")) {
      const name = fields.shift()!.slice(1);
      if (name !== "cert-authority" && name !== "revoked") return;
      marker = name;
    }
    const [patterns, keyType, base64] = fields;
    if (patterns === undefined || keyType === undefined || base64 === undefined) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return;
    const key = Buffer.from(base64, "base64");
    // The blob starts with its own type name; a line whose two disagree is corrupt.
    if (keyTypeOf(key) !== keyType) return;
    entries.push({ line: index + 1, ...(marker ? { marker } : {}), patterns, keyType, key });
  });
  return entries;
}

/** The name ssh looks a destination up by. */
export function knownHostName(host: string, port: number): string {
  return port === DEFAULT_SSH_PORT ? host : `[${host}]:${port}`;
}

/** Whether a line's patterns name the destination: one positive match and no negated one. */
export function patternsMatch(patterns: string, host: string, port: number): boolean {
  const name = knownHostName(host, port).toLowerCase();
  let matched = false;
  for (const pattern of patterns.split(",")) {
    if (pattern.startsWith("|1|")) {
      if (hashedMatches(pattern, name)) matched = true;
      continue;
    }
    const negated = pattern.startsWith("!");
    const glob = (negated ? pattern.slice(1) : pattern).toLowerCase();
    if (!globMatches(glob, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split("|");
  if (salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function globMatches(glob: string, name: string): boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`).test(name);
}

/** A key's type name, read from the start of its wire-format blob (a uint32 length and the name). */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return undefined;
  return key.subarray(4, 4 + length).toString("latin1");
}

/** "SHA256:…" as `ssh-keygen -lf` prints it (unpadded base64). */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** Pins are compared as ssh-keygen prints them; padding a user copied along is ignored. */
export function sameFingerprint(pin: string, fingerprint: string): boolean {
  return pin.trim().replace(/=+$/, "") === fingerprint;
}

export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyVerdict {
  const named = entries.filter((entry) => patternsMatch(entry.patterns, host, port));
  const revoked = named.find((entry) => entry.marker === "revoked" && entry.key.equals(key));
  if (revoked) return { type: "revoked", entry: revoked };
  // Certificate authorities vouch for certificates, which this client does not use.
  const plain = named.filter((entry) => entry.marker === undefined);
  const known = plain.find((entry) => entry.key.equals(key));
  if (known) return { type: "known", entry: known };
  return plain.length > 0 ? { type: "changed", entries: plain } : { type: "unknown" };
}

/** The line `acceptNew` appends. */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(key) ?? "unknown"} ${key.toString("base64")}`;
}

/** Key types the destination has on record, so the client can ask the server for one of them first. */
export function recordedKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types = entries
    .filter((entry) => entry.marker === undefined && patternsMatch(entry.patterns, host, port))
    .map((entry) => entry.keyType);
  return [...new Set(types)];
}

export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** Appends one line, creating the file (0600) and its directory (0700) as ssh would. */
export async function appendKnownHost(path: string, line: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await readFile(path, "utf8").catch(() => "");
  const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
  await appendFile(path, `${separator}${line}\n`, { mode: 0o600 });
}
