// YAML texts, one or more documents each, with positions from the yaml package's node ranges.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from "yaml";
import { firstLine, type ManifestIssue, type PathSegment, type Position, syntaxIssue } from "../issues.js";
import type { ParseResult, SourceDocument } from "../source-document.js";

/** Whether some error-free document of the text passes the test; false when the text is not YAML. */
export function someYamlDocument(text: string, test: (data: unknown) => boolean): boolean {
  try {
    const documents = parseAllDocuments(text);
    return (
      Array.isArray(documents) &&
      documents.some((document) => document.errors.length === 0 && test(document.toJS()))
    );
  } catch {
    return false;
  }
}

export function parseYaml(file: string, text: string): ParseResult {
  const lineCounter = new LineCounter();
  // The yaml package checks each key against every earlier key of its map, quadratic in the map's
  // size; duplicateKeyOffsets does the same check in one pass.
  const parsed = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  const yamlDocuments = Array.isArray(parsed) ? parsed : [];
  const issues: ManifestIssue[] = [];
  const documents: SourceDocument[] = [];
  for (const document of yamlDocuments) {
    const contents = document.contents;
    const duplicates = contents === null ? [] : duplicateKeyOffsets(contents);
    if (document.errors.length > 0 || duplicates.length > 0) {
      for (const error of document.errors) {
        const position = error.linePos?.[0] ?? { line: 1, col: 1 };
        issues.push(syntaxIssue(file, position.line, position.col, firstLine(error.message), "YAML"));
      }
      for (const offset of duplicates) {
        const position = lineCounter.linePos(offset);
        issues.push(syntaxIssue(file, position.line, position.col, DUPLICATE_KEY_MESSAGE, "YAML"));
      }
      continue;
    }
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    let data: unknown;
    try {
      data = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      // Aliases of aliases expand exponentially ("billion laughs"); the yaml package throws past the count.
      const position = lineCounter.linePos(contents?.range?.[0] ?? 0);
      const message = `${firstLine(String(error instanceof Error ? error.message : error))} (aliases expand to more than ${MAX_ALIAS_COUNT} nodes)`;
      issues.push(syntaxIssue(file, position.line, position.col, message, "YAML"));
      continue;
    }
    const entries = entryIndex();
    const locate = (path: readonly PathSegment[]): Position => {
      const offset = yamlOffset(contents, path, entries);
      const position = lineCounter.linePos(offset ?? 0);
      return { line: position.line, column: position.col };
    };
    documents.push({ file, data, locate });
  }
  return { documents, issues };
}

type YamlPair = { key: unknown; value: unknown };

/**
 * Offset of the key (for map entries) or the item (for list entries) at the deepest reachable path.
 * Maps are searched through `entries`, which indexes each one on its first lookup: every resource is
 * located once or more, so a scan of the map's items per lookup made loading quadratic in its size.
 */
function yamlOffset(
  root: YamlNode,
  path: readonly PathSegment[],
  entries: (map: { items: YamlPair[] }) => Map<string, YamlPair>,
): number | undefined {
  let node: unknown = root;
  let offset = (root.range ?? [0])[0];
  for (const segment of path) {
    if (isMap(node)) {
      const pair = entries(node).get(String(segment));
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

function entryIndex(): (map: { items: YamlPair[] }) => Map<string, YamlPair> {
  const indexes = new WeakMap<object, Map<string, YamlPair>>();
  return (map) => {
    let index = indexes.get(map);
    if (index === undefined) {
      index = new Map();
      for (const pair of map.items) {
        // The first of equal keys, as a search from the top finds; scalar keys only, as paths name them.
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (!index.has(key)) index.set(key, pair);
      }
      indexes.set(map, index);
    }
    return index;
  };
}

const MAX_ALIAS_COUNT = 1000;

/** The yaml package's own words for a duplicate key, kept so messages read as they did. */
const DUPLICATE_KEY_MESSAGE = "Map keys must be unique";

/**
 * Offsets of scalar keys that repeat an earlier key of the same map (equal values, as the yaml package
 * compares them). Walks with a stack, not recursion, so deep nesting cannot overflow the call stack.
 */
function duplicateKeyOffsets(root: YamlNode): number[] {
  const offsets: number[] = [];
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (isScalar(pair.key) && !Number.isNaN(pair.key.value)) {
          if (seen.has(pair.key.value)) offsets.push(pair.key.range?.[0] ?? 0);
          seen.add(pair.key.value);
        }
        pending.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) pending.push(...(isPair(item) ? [item.key, item.value] : [item]));
    }
  }
  return offsets;
}
