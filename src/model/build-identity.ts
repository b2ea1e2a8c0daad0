// What a node made by `treescale build` says about how it was made, in its agent.state: the build's
// hash (the same value as its container's `treescale.build` label, handed to it in TREESCALE_BUILD
// when the container was created) and a digest of the files it was started with, as they are on
// disk when it answers. A build that finds a node answering under its parent with both equal to what
// it would make has nothing to do on that server, without logging in to it.
import { createHash } from "node:crypto";

export const BUILD_ENV = "TREESCALE_BUILD";

export type { BuildIdentity } from "./wire.js";

/**
 * One digest of files by path (undefined: missing or unreadable), in any order. Content is hashed
 * before it is combined: the digest says whether files are the same, and carries none of them (the
 * secrets among them are random bytes a build made, so their hashes reveal nothing usable).
 */
export function filesDigest(files: Iterable<readonly [string, string | Uint8Array | undefined]>): string {
  const lines = [...files]
    .map(([path, content]) => `${path}\0${content === undefined ? "-" : sha256(content)}\n`)
    .sort();
  return sha256(lines.join("")).slice(0, 32);
}

function sha256(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}
