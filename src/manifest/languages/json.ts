// JSON texts through jsonc-parser's tree, which keeps offsets and duplicate keys that JSON.parse drops.
import { type Node as JsonNode, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import {
  ISSUE_CODES,
  lineStarts,
  type PathSegment,
  type Position,
  positionAt,
  syntaxIssue,
} from "../issues.js";
import type { ParseResult } from "../source-document.js";

const STRICT = { disallowComments: true, allowTrailingComma: false };

/** Whether the text is JSON without a syntax error. */
export function isJsonText(text: string): boolean {
  const errors: ParseError[] = [];
  parseTree(text, errors, STRICT);
  return errors.length === 0;
}

export function parseJson(file: string, text: string): ParseResult {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, STRICT);
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
    // TOML and YAML parsers refuse duplicate keys as syntax errors; the same code here keeps languages alike.
    issues.push({
      file,
      ...position,
      path: "",
      code: ISSUE_CODES.parseError,
      message: `duplicate key ${JSON.stringify(duplicate.key)}`,
    });
  }
  const properties = propertyIndex();
  const locate = (path: readonly PathSegment[]): Position => {
    for (let length = path.length; length > 0; length--) {
      const node = jsonNodeAt(root, path.slice(0, length), properties);
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

function jsonNodeAt(
  root: JsonNode,
  path: readonly PathSegment[],
  properties: (object: JsonNode) => Map<string, JsonNode>,
): JsonNode | undefined {
  let node: JsonNode | undefined = root;
  for (const segment of path) {
    if (node === undefined) return undefined;
    if (node.type === "object" && typeof segment === "string") node = properties(node).get(segment);
    else if (node.type === "array" && typeof segment === "number") node = node.children?.[segment];
    else return undefined;
  }
  return node;
}

/**
 * Each object's values by key, built on the first lookup into it. Every resource is located once or
 * more, so searching an object's properties on each lookup made loading quadratic in its size.
 */
function propertyIndex(): (object: JsonNode) => Map<string, JsonNode> {
  const indexes = new WeakMap<JsonNode, Map<string, JsonNode>>();
  return (object) => {
    let index = indexes.get(object);
    if (index === undefined) {
      index = new Map();
      // The last of duplicate keys wins, as in the data; duplicates are reported anyway.
      for (const property of object.children ?? []) {
        const [key, value] = property.children ?? [];
        if (key !== undefined && value !== undefined) index.set(String(key.value), value);
      }
      indexes.set(object, index);
    }
    return index;
  };
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
