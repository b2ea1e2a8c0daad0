// The node's side of its build identity: the hash it was created with (TREESCALE_BUILD) and a digest
// of the files named on its command line, read again at each answer, so a file changed on the server
// since the build shows in agent.state (a build then goes over SSH and writes it back).
import { readFile } from "node:fs/promises";
import { BUILD_ENV, type BuildIdentity, filesDigest } from "../model/build-identity.js";

/** Undefined unless a build made this node (TREESCALE_BUILD set): other nodes report no build. */
export function buildIdentity(
  env: NodeJS.ProcessEnv,
  files: readonly string[],
): (() => Promise<BuildIdentity>) | undefined {
  const id = env[BUILD_ENV];
  if (id === undefined || id === "") return undefined;
  return async () => ({
    id,
    files: filesDigest(
      await Promise.all(
        files.map(async (path) => [path, await readFile(path).catch(() => undefined)] as const),
      ),
    ),
  });
}
