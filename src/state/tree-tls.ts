// A tree's TLS material, kept with its context as a build made it: the CA (its key never leaves
// this machine) and each node's certificate and key, reused by every later build while they still
// fit, so a second build writes nothing new to a server. Files are this user's only (0600 in 0700).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdir } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { issueNodeCertificate, type KeyPair, makeCa } from "../drivers/openssl.js";
import { readFileIfExists, writeFileAtomic } from "./atomic-file.js";

/** What the nodes of a TLS tree are given, and the CA file a client of the tree trusts. */
export type TreeTls = { caFile: string; ca: string; nodes: Record<string, KeyPair> };

/** A certificate this close to its end is made again by the next build. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

const tlsDir = (home: string, context: string) => join(home, "contexts", context, "tls");

/** Whether the context's tree was built with TLS (a build keeps its CA). */
export async function hasTreeCa(home: string, context: string): Promise<boolean> {
  return (await readFileIfExists(join(tlsDir(home, context), "ca.crt"))) !== undefined;
}

/** The subject alternative names a node's certificate carries: its name, and its address. */
export function altNamesOf(server: { name: string; ip: string }): string[] {
  return [`DNS:${server.name}`, isIP(server.ip) ? `IP:${server.ip}` : `DNS:${server.ip}`];
}

/** Whether a kept certificate still serves: signed by this CA, for this name and address, its key, not near its end. */
export function certificateFits(
  held: KeyPair,
  caPem: string,
  server: { name: string; ip: string },
  now: Date,
): boolean {
  try {
    const cert = new X509Certificate(held.cert);
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (!cert.checkPrivateKey(createPrivateKey(held.key))) return false;
    if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_MS) return false;
    const names = (cert.subjectAltName ?? "").split(", ");
    const wanted = altNamesOf(server).map((name) => name.replace(/^IP:/, "IP Address:"));
    return wanted.every((name) => names.includes(name));
  } catch {
    // Unreadable PEM: made again.
    return false;
  }
}

/** Whether a kept CA can still sign: a CA certificate with its key, not near its end. */
export function caFits(held: KeyPair, now: Date): boolean {
  try {
    const ca = new X509Certificate(held.cert);
    return (
      ca.ca &&
      ca.checkPrivateKey(createPrivateKey(held.key)) &&
      Date.parse(ca.validTo) - now.getTime() >= RENEW_BEFORE_MS
    );
  } catch {
    return false;
  }
}

/** The context's CA and every server's certificate, each made only when none that fits is kept. */
export async function ensureTreeTls(
  home: string,
  context: string,
  servers: readonly { name: string; ip: string }[],
  now = new Date(),
): Promise<TreeTls> {
  const dir = tlsDir(home, context);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  let ca = await readPair(dir, "ca");
  if (!ca || !caFits(ca, now)) {
    ca = await makeCa(dir, "TreeScale tree CA");
    await writePair(dir, "ca", ca);
  }
  const nodes: Record<string, KeyPair> = {};
  // In a folder of their own: a server may be named "ca".
  const nodeDir = join(dir, "nodes");
  await mkdir(nodeDir, { recursive: true, mode: 0o700 });
  for (const server of servers) {
    let pair = await readPair(nodeDir, server.name);
    if (!pair || !certificateFits(pair, ca.cert, server, now)) {
      pair = await issueNodeCertificate(dir, ca, { name: server.name, altNames: altNamesOf(server) });
      await writePair(nodeDir, server.name, pair);
    }
    nodes[server.name] = pair;
  }
  return { caFile: join(dir, "ca.crt"), ca: ca.cert, nodes };
}

async function readPair(dir: string, name: string): Promise<KeyPair | undefined> {
  const [cert, key] = await Promise.all([
    readFileIfExists(join(dir, `${name}.crt`)),
    readFileIfExists(join(dir, `${name}.key`)),
  ]);
  return cert === undefined || key === undefined ? undefined : { cert, key };
}

/** writeFileAtomic makes its files 0600: certificates too, as everything under a context. */
async function writePair(dir: string, name: string, pair: KeyPair): Promise<void> {
  await writeFileAtomic(join(dir, `${name}.key`), pair.key);
  await writeFileAtomic(join(dir, `${name}.crt`), pair.cert);
}
