// Loads manifests for a verb, or stops it with every issue listed (exit 2).
import { ManifestIssuesError } from "../errors.js";
import {
  type ExtensionSection,
  formatIssue,
  type LoadResult,
  loadManifests,
  type ManifestIssue,
} from "../manifest/index.js";

/** `sections`: the manifest sections the registered kinds add. */
export async function loadOrExit(
  files: string[],
  sections: readonly ExtensionSection[] = [],
): Promise<LoadResult> {
  const result = await loadManifests(files, readStdin, { sections });
  if (result.issues.length > 0) {
    const lines = result.issues.map(formatIssue);
    const count = `${result.issues.length} error${result.issues.length === 1 ? "" : "s"} in the manifests; nothing was changed.`;
    throw new ManifestIssuesError(`${lines.join("\n")}\n${count}`, result.issues.map(issueJson));
  }
  return result;
}

export function issueJson(issue: ManifestIssue) {
  const { code, message, file, line, column, path } = issue;
  return { code, message, file, line, column, field: path };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
