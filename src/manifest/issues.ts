// How manifest problems are described: a located issue, a readable path, plain-word values.

export type ManifestIssue = {
  file: string;
  line: number;
  column: number;
  path: string;
  /** Stable for programs to match on while messages stay free to improve: one of ISSUE_CODES. */
  code: string;
  message: string;
};

/** The codes the loader gives its issues. */
export const ISSUE_CODES = {
  /** A text that does not parse in its language (TOML, JSON, YAML), duplicate keys included. */
  parseError: "PARSE_ERROR",
  /** A file, directory or stdin that cannot be read. */
  readError: "READ_ERROR",
  unknownField: "UNKNOWN_FIELD",
  missingField: "MISSING_FIELD",
  invalidValue: "INVALID_VALUE",
  /** One resource declared twice. */
  duplicate: "DUPLICATE",
  /** A name that refers to a resource nobody declared. */
  unknownReference: "UNKNOWN_REFERENCE",
  /** Declarations that cannot all hold: two current_node or stack values, two parents for a server. */
  conflict: "CONFLICT",
  /** More than one apply takes: replicas per container, resources or replicas per apply (limits.ts). */
  limitExceeded: "LIMIT_EXCEEDED",
} as const;

export type IssueCode = (typeof ISSUE_CODES)[keyof typeof ISSUE_CODES];

/** A path into a manifest document: object keys and array indexes. */
export type PathSegment = string | number;

/** 1-based line and column in a source text. */
export type Position = { line: number; column: number };

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `containers.web.ports[1]`; keys that are not bare words are quoted: `containers."ubuntu/php:dev"`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else {
      const key = BARE_KEY.test(segment) ? segment : JSON.stringify(segment);
      text += text === "" ? key : `.${key}`;
    }
  }
  return text;
}

/** `app/web.toml:12:3: containers.web.replicas: expected a whole number ≥ 0, got "three"` */
export function formatIssue(issue: ManifestIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path === "" ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** A value as a user would recognise it in a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (typeof value === "object") return "a table";
  return typeof value;
}

/** `; did you mean "replicas"?` when one known word is close to the unknown one, else "". */
export function didYouMean(word: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestDistance <= tolerance ? `; did you mean ${JSON.stringify(best)}?` : "";
}

/** Edit distance counting a swap of neighbours as one edit ("wbe" → "web"). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** Line starts of a text, to turn offsets into positions. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let index = 0; index < text.length; index++) if (text[index] === "\n") starts.push(index + 1);
  return starts;
}

export function positionAt(starts: readonly number[], offset: number): Position {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return { line: low + 1, column: offset - starts[low]! + 1 };
}

/** A parser's complaint about a text, located but with no path: `TOML syntax error: …`. */
export function syntaxIssue(
  file: string,
  line: number,
  column: number,
  message: string,
  language: string,
): ManifestIssue {
  return {
    file,
    line,
    column,
    path: "",
    code: ISSUE_CODES.parseError,
    message: `${language} syntax error: ${message}`,
  };
}

export function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}
