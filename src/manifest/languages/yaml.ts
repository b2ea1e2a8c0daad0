// YAML texts, one or more documents each, with positions from the yaml package's node ranges.
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from "yaml";
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
