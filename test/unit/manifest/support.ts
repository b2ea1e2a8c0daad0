// Temp-dir manifests for the loader's tests.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { formatIssue, type LoadResult, loadManifests } from "../../../src/manifest/index.js";

const made: string[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes files (relative path → text) into a fresh temp dir and returns its path. */
export async function writeTree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "treescale-manifest-"));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

/** Loads one file of the given name and text; issues are reported with the bare file name. */
export async function loadText(name: string, text: string): Promise<LoadResult & { messages: string[] }> {
  const dir = await writeTree({ [name]: text });
  const result = await loadManifests([join(dir, name)]);
  const messages = result.issues.map((issue) =>
    formatIssue({ ...issue, file: issue.file.slice(dir.length + 1) }),
  );
  return { ...result, messages };
}
