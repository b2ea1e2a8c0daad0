// Reads TOML, JSON and YAML texts into plain data plus a locator from key paths to source positions.
import { type Node as JsonNode, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { parse as parseToml, TomlError } from "smol-toml";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from "yaml";
import { lineStarts, type ManifestIssue, type PathSegment, type Position, positionAt } from "./issues.js";
import { createTomlLocator } from "./toml-locator.js";

export type Language = "toml" | "json" | "yaml";

/** One document of a file (YAML files may hold several): its data and where each path is written. */
export type SourceDocument = {
  file: string;
  data: unknown;
  /** Position of a path, else of its nearest located parent, else line 1. */
  locate(path: readonly PathSegment[]): Position;
};

export type ParseResult = { documents: SourceDocument[]; issues: ManifestIssue[] };

const EXTENSIONS: Record<string, Language> = {
  ".toml": "toml",
  ".json": "json",
  ".yaml": "yaml",
  ".yml": "yaml",
};
export const KINDS = ["servers", "containers", "balancers"] as const;

export function languageOfFile(file: string): Language | undefined {
  const dot = file.lastIndexOf(".");
  return dot < 0 ? undefined : EXTENSIONS[file.slice(dot).toLowerCase()];
}

/** stdin has no name: JSON if it opens like JSON, YAML if it reads as YAML naming a known kind, else TOML. */
export function sniffLanguage(text: string): Language {
  const start = text.trimStart();
  if (start.startsWith("{")) return "json";
  // "[" opens a JSON array or a TOML table header; TOML wins only when it parses and JSON does not.
  if (start.startsWith("[")) {
    const errors: ParseError[] = [];
    parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
    return errors.length > 0 && parseTomlSource(STDIN_PROBE, text).issues.length === 0 ? "toml" : "json";
  }
  try {
    const documents = parseAllDocuments(text);
    if (Array.isArray(documents)) {
      const looksLikeYaml = documents.some((document) => {
        if (document.errors.length > 0) return false;
        const data: unknown = document.toJS();
        return isPlainObject(data) && Object.keys(data).some((key) => KNOWN_TOP_LEVEL_KEYS.has(key));
      });
      if (looksLikeYaml) return "yaml";
    }
  } catch {
    // Not YAML: fall through to TOML.
  }
  return "toml";
}

const STDIN_PROBE = "<probe>";
const KNOWN_TOP_LEVEL_KEYS = new Set<string>([...KINDS, "current_node", "tree", "ssh"]);

export function parseSource(file: string, text: string, language: Language): ParseResult {
  if (language === "toml") return parseTomlSource(file, text);
  if (language === "json") return parseJsonSource(file, text);
  return parseYamlSource(file, text);
}

function parseTomlSource(file: string, text: string): ParseResult {
  try {
    const data = parseToml(text);
    return { documents: [{ file, data, locate: createTomlLocator(text) }], issues: [] };
  } catch (error) {
    if (error instanceof TomlError) {
      const message = firstLine(error.message).replace(/^Invalid TOML document:\s*/, "");
      return { documents: [], issues: [syntaxIssue(file, error.line, error.column, message, "TOML")] };
    }
    return { documents: [], issues: [syntaxIssue(file, 1, 1, String(error), "TOML")] };
  }
}

function parseJsonSource(file: string, text: string): ParseResult {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const starts = lineStarts(text);
  // Only the first syntax error: the ones after it are mostly echoes of it.
  const issues = errors.slice(0, 1).map((error) => {
    const position = positionAt(starts, error.offset);
    const words = printParseErrorCode(error.error)
      .replace(/([a-z])([A-Z])/g, "$1 $2")
      .toLowerCase();
    return syntaxIssue(file, position.line, position.column, words, "JSON");
  });
  if (root === undefined || issues.length > 0) return { documents: [], issues };
  for (const duplicate of duplicateJsonKeys(root)) {
    const position = positionAt(starts, duplicate.offset);
    issues.push({ file, ...position, path: "", message: `duplicate key ${JSON.stringify(duplicate.key)}` });
  }
  const locate = (path: readonly PathSegment[]): Position => {
    for (let length = path.length; length > 0; length--) {
      const node = jsonNodeAt(root, path.slice(0, length));
      if (node !== undefined) {
        const offset = node.parent?.type === "property" ? node.parent.offset : node.offset;
        return positionAt(starts, offset);
      }
    }
    return { line: 1, column: 1 };
  };
  const data = jsonValue(root);
  // A top-level JSON array is a list of fragments, as a multi-document YAML file is.
  if (root.type === "array" && Array.isArray(data)) {
    const documents = data.map((element, index) => ({
      file,
      data: element,
      locate: (path: readonly PathSegment[]) => locate([index, ...path]),
    }));
    return { documents, issues };
  }
  return { documents: [{ file, data, locate }], issues };
}

function jsonNodeAt(root: JsonNode, path: readonly PathSegment[]): JsonNode | undefined {
  let node: JsonNode | undefined = root;
  for (const segment of path) {
    if (node === undefined) return undefined;
    if (node.type === "object" && typeof segment === "string") {
      const property: JsonNode | undefined = node.children?.findLast(
        (child) => child.children?.[0]?.value === segment,
      );
      node = property?.children?.[1];
    } else if (node.type === "array" && typeof segment === "number") node = node.children?.[segment];
    else return undefined;
  }
  return node;
}

function jsonValue(node: JsonNode): unknown {
  if (node.type === "object") {
    const object: Record<string, unknown> = {};
    for (const property of node.children ?? []) {
      const [key, value] = property.children ?? [];
      if (key !== undefined && value !== undefined) object[String(key.value)] = jsonValue(value);
    }
    return object;
  }
  if (node.type === "array") return (node.children ?? []).map(jsonValue);
  return node.value;
}

function duplicateJsonKeys(node: JsonNode): { key: string; offset: number }[] {
  const duplicates: { key: string; offset: number }[] = [];
  const visit = (current: JsonNode): void => {
    if (current.type === "object") {
      const seen = new Set<string>();
      for (const property of current.children ?? []) {
        const key = String(property.children?.[0]?.value);
        if (seen.has(key)) duplicates.push({ key, offset: property.offset });
        seen.add(key);
      }
    }
    for (const child of current.children ?? []) visit(child);
  };
  visit(node);
  return duplicates;
}

function parseYamlSource(file: string, text: string): ParseResult {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter });
  const yamlDocuments = Array.isArray(parsed) ? parsed : [];
  const issues: ManifestIssue[] = [];
  const documents: SourceDocument[] = [];
  for (const document of yamlDocuments) {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const position = error.linePos?.[0] ?? { line: 1, col: 1 };
        issues.push(syntaxIssue(file, position.line, position.col, firstLine(error.message), "YAML"));
      }
      continue;
    }
    const contents = document.contents;
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    const data: unknown = document.toJS({ maxAliasCount: 1000 });
    const locate = (path: readonly PathSegment[]): Position => {
      const offset = yamlOffset(contents, path);
      const position = lineCounter.linePos(offset ?? 0);
      return { line: position.line, column: position.col };
    };
    documents.push({ file, data, locate });
  }
  return { documents, issues };
}

/** Offset of the key (for map entries) or the item (for list entries) at the deepest reachable path. */
function yamlOffset(root: YamlNode, path: readonly PathSegment[]): number | undefined {
  let node: unknown = root;
  let offset = (root.range ?? [0])[0];
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (pair === undefined || !isScalar(pair.key)) break;
      offset = pair.key.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item: unknown = node.items[segment];
      if (!isMap(item) && !isSeq(item) && !isScalar(item)) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

function syntaxIssue(
  file: string,
  line: number,
  column: number,
  message: string,
  language: string,
): ManifestIssue {
  return { file, line, column, path: "", message: `${language} syntax error: ${message}` };
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
