// Manifests → DesiredState: read files, directories or stdin in any of the three languages,
// normalize seed documents, validate, merge, and report every problem with its file:line:column.
import { InternalError } from "../errors.js";
import type { DesiredState } from "../model/resources.js";
import type { Fragment, SshPatch } from "./assemble.js";
import type { ExtensionSection } from "./extension-section.js";
import { formatPath, ISSUE_CODES, type ManifestIssue, type PathSegment } from "./issues.js";
import { isPlainObject, parseSource, SCHEMA_KEY, TOP_LEVEL_KEYS } from "./parse.js";
import { isSeedDocument, readSeed } from "./seed.js";
import { readInputs, type SourceText } from "./sources.js";

export type { ExtensionSection } from "./extension-section.js";
export { checkHostPorts } from "./host-ports.js";
export { formatIssue, ISSUE_CODES, type IssueCode, type ManifestIssue } from "./issues.js";
export { toManifestDocument } from "./serialize.js";
export { MANIFEST_PATTERNS } from "./sources.js";
export { defaultStackName } from "./stack-name.js";

export type LoadResult = {
  desired: DesiredState;
  issues: ManifestIssue[];
  /** Files read, in order, as named in messages ("<stdin>" for stdin). */
  files: string[];
  /** Directories given that hold no manifest file (`validate` says so; an apply of nothing may be meant). */
  emptyDirectories?: string[];
  /** The name this node runs as, from a seed file's `current_node`. */
  currentNode?: string;
  /** The stack the native documents name with `stack = "…"`; unset when none does (see defaultStackName). */
  stack?: string;
};

export type LoadOptions = { sections?: readonly ExtensionSection[] };

/**
 * Never throws for bad input: every problem is an issue. `desired` is complete only when there are none.
 * Throws for extension sections that clash with a built-in key or with each other: that is a caller's bug.
 */
export async function loadManifests(
  inputs: string[],
  readStdin?: () => Promise<string>,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const sections = options.sections ?? [];
  checkSections(sections);
  const sectionNames = sections.map((extension) => extension.section);
  const { sources, issues, emptyDirectories, readMore } = await readInputs(inputs, readStdin, sectionNames);
  const fragments: Fragment[] = [];
  const sshPatches: SshPatch[] = [];
  const currentNodes: { name: string; file: string; where: Fragment["where"] }[] = [];

  for (let index = 0; index < sources.length; index++) {
    const source = sources[index]!;
    const parsed = await parseSource(source.file, source.text, source.language);
    issues.push(...parsed.issues);
    for (const document of parsed.documents) {
      const identity = (path: readonly PathSegment[]) => ({
        path: [...path],
        position: document.locate(path),
      });
      if (!isPlainObject(document.data) || !isSeedDocument(document.data)) {
        fragments.push({ file: source.file, seed: false, data: document.data, where: identity });
        continue;
      }
      const seed = readSeed(document.data, source.path);
      for (const issue of seed.issues) {
        const position = document.locate(issue.path);
        const { path, code, message } = issue;
        issues.push({ file: source.file, ...position, path: formatPath(path), code, message });
      }
      const where = (path: readonly PathSegment[]) => identity(seed.sourcePath(path));
      fragments.push({ file: source.file, seed: true, data: seed.data, where });
      for (const patch of seed.ssh) {
        const patchWhere = (path: readonly PathSegment[]) => identity(patch.sourcePath(path));
        sshPatches.push({ file: source.file, server: patch.server, data: patch.data, where: patchWhere });
      }
      if (seed.currentNode !== undefined)
        currentNodes.push({ name: seed.currentNode, file: source.file, where: identity });
      if (seed.tree !== undefined) {
        const problem = await readMore(seed.tree, source);
        if (problem !== undefined) {
          const position = document.locate(["tree"]);
          issues.push({
            file: source.file,
            ...position,
            path: "tree",
            code: ISSUE_CODES.readError,
            message: problem,
          });
        }
      }
    }
  }

  // Validation brings in zod and builds the schemas: only now, not when the module is imported.
  const { assemble } = await import("./assemble.js");
  const assembled = assemble(fragments, sshPatches, sections);
  issues.push(...assembled.issues);
  const result: LoadResult = {
    desired: assembled.desired,
    issues,
    files: sources.map((source) => source.file),
    emptyDirectories,
  };
  if (assembled.stack !== undefined) result.stack = assembled.stack;
  const [first, ...others] = currentNodes;
  if (first !== undefined) {
    result.currentNode = first.name;
    for (const other of others.filter((node) => node.name !== first.name)) {
      const position = other.where(["current_node"]).position;
      issues.push({
        file: other.file,
        ...position,
        path: "current_node",
        code: ISSUE_CODES.conflict,
        message: `current_node ${JSON.stringify(other.name)} contradicts ${JSON.stringify(first.name)} in ${first.file}`,
      });
    }
  }
  result.issues = sortIssues(issues, sources);
  return result;
}

function checkSections(sections: readonly ExtensionSection[]): void {
  const supplied = new Set<string>();
  for (const { section } of sections) {
    if (TOP_LEVEL_KEYS.includes(section) || section === SCHEMA_KEY)
      throw new InternalError(
        `extension section ${JSON.stringify(section)} is already a top-level manifest key; give the kind another section name`,
      );
    if (supplied.has(section))
      throw new InternalError(
        `extension section ${JSON.stringify(section)} is supplied twice; supply each section once`,
      );
    supplied.add(section);
  }
}

/** Issues grouped by file in reading order, then by position; problems outside any file (line 0) first. */
function sortIssues(issues: ManifestIssue[], sources: readonly SourceText[]): ManifestIssue[] {
  const order = new Map(sources.map((source, index) => [source.file, index]));
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (order.get(a.issue.file) ?? -1) - (order.get(b.issue.file) ?? -1) ||
        a.issue.line - b.issue.line ||
        a.issue.column - b.issue.column ||
        a.index - b.index,
    )
    .map(({ issue }) => issue);
}
