// Cluster-secret challenge–response between nodes. Each side proves it knows the secret by an HMAC over
// both nonces and a role label; the secret itself never crosses the wire.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export function createNonce(): string {
  return randomBytes(32).toString("hex");
}

/** The parent's proof, over the child's nonce then its own. */
export function parentProof(
  secret: Uint8Array,
  childNonce: string,
  parentNonce: string,
  parentName: string,
): string {
  return createHmac("sha256", secret)
    .update(`treescale-parent\n${childNonce}\n${parentNonce}\n${parentName}`)
    .digest("hex");
}

/** The child's proof, over the parent's nonce then its own. */
export function childProof(
  secret: Uint8Array,
  parentNonce: string,
  childNonce: string,
  childName: string,
): string {
  return createHmac("sha256", secret)
    .update(`treescale-child\n${parentNonce}\n${childNonce}\n${childName}`)
    .digest("hex");
}

export function proofsEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(given, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
