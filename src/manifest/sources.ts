// Turns the inputs of a verb (files, directories, "-") into source texts; unreadable inputs become issues.
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { errorMessage } from "../errors.js";
import { ISSUE_CODES, type ManifestIssue } from "./issues.js";
import { type Language, languageOfFile, sniffLanguage } from "./parse.js";

export const STDIN_NAME = "<stdin>";

export type SourceText = {
  /** The name messages use: as given, joined under its directory, or "<stdin>". */
  file: string;
  /** Absolute path (relative paths inside the file resolve against its folder). */
  path: string;
  text: string;
  language: Language;
};

export type ReadInputs = {
  sources: SourceText[];
  issues: ManifestIssue[];
  /** Directories given that hold no manifest file at any depth. */
  emptyDirectories: string[];
  /** Reads one more file named by another (console.toml's tree); the problem in words if it cannot. */
  readMore(path: string, from: SourceText): Promise<string | undefined>;
};

/** `sectionNames`: the caller's extension sections, which tell YAML on stdin apart as the built-in kinds do. */
export async function readInputs(
  inputs: readonly string[],
  readStdin?: () => Promise<string>,
  sectionNames: readonly string[] = [],
): Promise<ReadInputs> {
  const sources: SourceText[] = [];
  const issues: ManifestIssue[] = [];
  const emptyDirectories: string[] = [];
  const seen = new Set<string>();
  const problemAt = (file: string, message: string) =>
    issues.push({ file, line: 0, column: 0, path: "", code: ISSUE_CODES.readError, message });

  const readOne = async (file: string, path: string): Promise<string | undefined> => {
    if (seen.has(path)) return undefined;
    seen.add(path);
    try {
      const text = await readFile(path, "utf8");
      sources.push({
        file,
        path,
        text,
        language: languageOfFile(file) ?? (await sniffLanguage(text, sectionNames)),
      });
      return undefined;
    } catch (error) {
      return describeFsError(error);
    }
  };

  for (const input of inputs) {
    if (input === "-") {
      if (seen.has(STDIN_NAME)) continue;
      seen.add(STDIN_NAME);
      if (readStdin === undefined) {
        problemAt(STDIN_NAME, "reading manifests from stdin is not available here");
        continue;
      }
      try {
        const text = await readStdin();
        sources.push({
          file: STDIN_NAME,
          path: resolve(STDIN_NAME),
          text,
          language: await sniffLanguage(text, sectionNames),
        });
      } catch (error) {
        problemAt(STDIN_NAME, `cannot read stdin: ${errorMessage(error)}`);
      }
      continue;
    }
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(input)).isDirectory();
    } catch (error) {
      problemAt(input, describeFsError(error));
      continue;
    }
    let files = [input];
    if (isDirectory) {
      try {
        files = await listManifestFiles(input);
        if (files.length === 0) emptyDirectories.push(input);
      } catch (error) {
        problemAt(input, describeFsError(error));
        continue;
      }
    }
    for (const file of files) {
      const problem = await readOne(file, resolve(file));
      if (problem !== undefined) problemAt(file, problem);
    }
  }

  const readMore = (path: string, from: SourceText) =>
    readOne(join(dirname(from.file), relative(dirname(from.path), path)), path);
  return { sources, issues, emptyDirectories, readMore };
}

const MANIFEST_EXTENSIONS = /\.(toml|json|ya?ml)$/i;

/** What a directory is searched for, as messages name it. */
export const MANIFEST_PATTERNS = "*.toml, *.json, *.yaml, *.yml";

/** Manifest files under a directory, recursively, sorted by path; hidden files and folders skipped. */
async function listManifestFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const visible = entries
    .filter((entry) => !entry.name.startsWith("."))
    .sort((a, b) => compare(a.name, b.name));
  const files: string[] = [];
  for (const entry of visible) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await listManifestFiles(path)));
    else if (MANIFEST_EXTENSIONS.test(entry.name)) files.push(path);
  }
  return files;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return errorMessage(error);
}
