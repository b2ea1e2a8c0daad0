// Loads manifests for a verb, or stops it with every issue listed (exit 2).
import { ExitError } from "../errors.js";
import { type ExtensionSection, formatIssue, type LoadResult, loadManifests } from "../manifest/index.js";

/** `sections`: the manifest sections the registered kinds add. */
export async function loadOrExit(
  files: string[],
  sections: readonly ExtensionSection[] = [],
): Promise<LoadResult> {
  const result = await loadManifests(files, readStdin, { sections });
  if (result.issues.length > 0) {
    const lines = result.issues.map(formatIssue);
    const count = `${result.issues.length} error${result.issues.length === 1 ? "" : "s"} in the manifests; nothing was changed.`;
    throw new ExitError(2, `${lines.join("\n")}\n${count}`);
  }
  return result;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
