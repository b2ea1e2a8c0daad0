// known_hosts as OpenSSH reads it: host names and [host]:port, hashed entries, patterns and markers;
// a destination's key is known, unknown, changed or revoked.
import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  checkHostKey,
  fingerprintOf,
  keyTypeOf,
  knownHostName,
  knownHostsLine,
  parseKnownHosts,
  patternsMatch,
  recordedKeyTypes,
  sameFingerprint,
} from "../../../src/drivers/known-hosts.js";

/** A key blob as the wire carries it: the type name, then key material. */
function keyBlob(type = "ssh-ed25519"): Buffer {
  const name = Buffer.from(type);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  const material = Buffer.alloc(4 + 32);
  material.writeUInt32BE(32);
  randomBytes(32).copy(material, 4);
  return Buffer.concat([length, name, material]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

const line = (hosts: string, key: Buffer) => `${hosts} ${keyTypeOf(key)} ${key.toString("base64")}`;

describe("known_hosts", () => {
  it("parses entries with their line numbers, skipping comments, blanks and corrupt lines", () => {
    const a = keyBlob();
    const b = keyBlob("ecdsa-sha2-nistp256");
    const text = [
      "# a comment",
      "",
      line("alpha,10.0.0.1", a),
      "broken-line-with-no-key",
      `beta ssh-rsa ${a.toString("base64")}`, // type field disagrees with the blob
      `@revoked ${line("gamma", b)}`,
      `@cert-authority ${line("*.example.com", b)} comment words`,
      "delta ssh-ed25519 not*base64",
    ].join("\n");
    const entries = parseKnownHosts(text);
    expect(entries.map((entry) => [entry.line, entry.patterns, entry.marker])).toEqual([
      [3, "alpha,10.0.0.1", undefined],
      [6, "gamma", "revoked"],
      [7, "*.example.com", "cert-authority"],
    ]);
    expect(entries[0]!.key.equals(a)).toBe(true);
    expect(entries[0]!.keyType).toBe("ssh-ed25519");
  });

  it("names a destination as ssh does: bare on port 22, [host]:port elsewhere", () => {
    expect(knownHostName("web1", 22)).toBe("web1");
    expect(knownHostName("10.0.0.5", 2222)).toBe("[10.0.0.5]:2222");
    expect(patternsMatch("[10.0.0.5]:2222", "10.0.0.5", 2222)).toBe(true);
    expect(patternsMatch("10.0.0.5", "10.0.0.5", 2222)).toBe(false);
    expect(patternsMatch("[10.0.0.5]:2222", "10.0.0.5", 22)).toBe(false);
    expect(patternsMatch("Web1,web2", "WEB1", 22)).toBe(true);
  });

  it("matches hashed entries (|1|salt|hash) for both forms of the name", () => {
    expect(patternsMatch(hashed("web1"), "web1", 22)).toBe(true);
    expect(patternsMatch(hashed("[web1]:2222"), "web1", 2222)).toBe(true);
    expect(patternsMatch(hashed("web1"), "web2", 22)).toBe(false);
    expect(patternsMatch("|1|garbage", "web1", 22)).toBe(false);
  });

  it("matches wildcards, and a negated pattern excludes the line", () => {
    expect(patternsMatch("*.example.com", "db.example.com", 22)).toBe(true);
    expect(patternsMatch("web?", "web7", 22)).toBe(true);
    expect(patternsMatch("web?", "web10", 22)).toBe(false);
    expect(patternsMatch("*.example.com,!db.example.com", "db.example.com", 22)).toBe(false);
    expect(patternsMatch("a.b", "axb", 22)).toBe(false);
  });

  it("a recorded key is known; another key for a named host is changed; an unnamed host is unknown", () => {
    const recorded = keyBlob();
    const entries = parseKnownHosts(`${line("[web1]:2222", recorded)}\n${line(hashed("web2"), recorded)}\n`);
    expect(checkHostKey(entries, "web1", 2222, recorded)).toMatchObject({
      type: "known",
      entry: { line: 1 },
    });
    expect(checkHostKey(entries, "web2", 22, recorded)).toMatchObject({ type: "known", entry: { line: 2 } });
    const other = keyBlob();
    expect(checkHostKey(entries, "web1", 2222, other)).toMatchObject({
      type: "changed",
      entries: [{ line: 1 }],
    });
    expect(checkHostKey(entries, "web3", 22, other)).toEqual({ type: "unknown" });
    // A key of another type for a host on record is a change as well: the recorded type is asked for first.
    expect(checkHostKey(entries, "web1", 2222, keyBlob("ecdsa-sha2-nistp256"))).toMatchObject({
      type: "changed",
    });
  });

  it("a @revoked key is refused even where a plain line records it; a CA line is not a host key", () => {
    const key = keyBlob();
    const entries = parseKnownHosts(
      `${line("web1", key)}\n@revoked ${line("*", key)}\n@cert-authority ${line("web2", key)}\n`,
    );
    expect(checkHostKey(entries, "web1", 22, key)).toMatchObject({ type: "revoked", entry: { line: 2 } });
    expect(checkHostKey(parseKnownHosts(`@cert-authority ${line("web2", key)}`), "web2", 22, key)).toEqual({
      type: "unknown",
    });
  });

  it("writes the line it appends in the form it reads back", () => {
    const key = keyBlob();
    const written = knownHostsLine("10.0.0.5", 2222, key);
    expect(written).toBe(`[10.0.0.5]:2222 ssh-ed25519 ${key.toString("base64")}`);
    expect(checkHostKey(parseKnownHosts(written), "10.0.0.5", 2222, key).type).toBe("known");
    expect(recordedKeyTypes(parseKnownHosts(written), "10.0.0.5", 2222)).toEqual(["ssh-ed25519"]);
  });

  it("fingerprints as ssh-keygen -lf prints them, and compares pins with or without padding", () => {
    const key = keyBlob();
    const fingerprint = fingerprintOf(key);
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(sameFingerprint(fingerprint, fingerprint)).toBe(true);
    expect(sameFingerprint(`${fingerprint}=`, fingerprint)).toBe(true);
    expect(sameFingerprint(fingerprintOf(keyBlob()), fingerprint)).toBe(false);
  });
});
