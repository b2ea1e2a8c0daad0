// The node's token file, in one of two formats. Plain: one token per line, each allowed everything (the
// format nodes have always read). TOML (a `.toml` file, or one with a `[[token]]` table): each token
// with its permissions, and a name for the logs. Every problem in the file is reported at once.
import { createHash } from "node:crypto";
import { parse, TomlError } from "smol-toml";
import { UsageError } from "../../errors.js";
import { type Grant, Permissions, permissionProblem } from "./permissions.js";

/** Token → what it grants. */
export type TokenTable = ReadonlyMap<string, Grant>;

export interface TokenFile {
  format: "plain" | "toml";
  tokens: TokenTable;
}

/** How logs name a token that has no name: never the token, a short hash of it. */
export function tokenLabel(token: string): string {
  return `token#${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;
}

/** A token allowed everything, as a plain token file or a hook answer without `allow` gives. */
export function fullGrant(token: string): Grant {
  return { label: tokenLabel(token), permissions: Permissions.all };
}

/** Tokens of a plain file: one per line; blank lines and lines starting with # are ignored. */
export function parsePlainTokens(text: string): Set<string> {
  const tokens = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line && !line.startsWith("#")) tokens.add(line);
  }
  return tokens;
}

/**
 * The table a reloaded token file gives, and the grants it takes away: a token gone, or one whose name or
 * permissions changed. An unchanged token keeps its Grant object, so connections are matched to their
 * token by the grant they hold (a connection never keeps its token).
 */
export function reconcileTokens(
  previous: TokenTable,
  next: TokenTable,
): { tokens: TokenTable; revoked: Set<Grant> } {
  const tokens = new Map<string, Grant>();
  for (const [token, grant] of next) {
    const old = previous.get(token);
    tokens.set(token, old && sameGrant(old, grant) ? old : grant);
  }
  const revoked = new Set<Grant>();
  for (const [token, grant] of previous) if (tokens.get(token) !== grant) revoked.add(grant);
  return { tokens, revoked };
}

function sameGrant(a: Grant, b: Grant): boolean {
  const allowA = [...a.permissions.allow].sort();
  const allowB = [...b.permissions.allow].sort();
  return (
    a.label === b.label && allowA.length === allowB.length && allowA.every((entry, i) => entry === allowB[i])
  );
}

const TOML_TABLE = /^\s*\[\[\s*token\s*\]\]/m;

/** Reads a token file's text; `path` decides the format by its extension, else the text does. */
export function parseTokenFile(text: string, path: string): TokenFile {
  if (path.endsWith(".toml") || TOML_TABLE.test(text)) {
    return { format: "toml", tokens: parseTomlTokens(text, path) };
  }
  const tokens = new Map<string, Grant>();
  for (const token of parsePlainTokens(text)) tokens.set(token, fullGrant(token));
  return { format: "plain", tokens };
}

const KEYS = new Set(["token", "name", "allow"]);

/** The `[[token]]` entries of a TOML token file; throws a UsageError listing every problem. */
export function parseTomlTokens(text: string, path: string): TokenTable {
  let document: Record<string, unknown>;
  try {
    document = parse(text) as Record<string, unknown>;
  } catch (error) {
    const where = error instanceof TomlError ? `:${error.line}:${error.column}` : "";
    throw new UsageError(`token file ${path}${where}: not valid TOML: ${firstLine(error)}`, { cause: error });
  }
  const issues: string[] = [];
  for (const key of Object.keys(document)) {
    if (key !== "token") issues.push(`${key}: unknown key; a token file holds [[token]] entries only`);
  }
  const entries = document.token;
  if (!Array.isArray(entries)) {
    issues.push('token: expected [[token]] entries, each with token = "…" and allow = […]');
  }
  const tokens = new Map<string, Grant>();
  const seen = new Set<string>();
  for (const [index, entry] of (Array.isArray(entries) ? entries : []).entries()) {
    const at = `token[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      issues.push(`${at}: expected a [[token]] table`);
      continue;
    }
    const fields = entry as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!KEYS.has(key)) issues.push(`${at}.${key}: unknown key; a token has token, name and allow`);
    }
    const { token, name, allow } = fields;
    const label = typeof name === "string" && name !== "" ? `${at} (${name})` : at;
    if (typeof token !== "string" || token.trim() === "" || token !== token.trim()) {
      issues.push(`${label}.token: expected the token, a non-empty string without surrounding spaces`);
    } else if (seen.has(token)) {
      issues.push(`${label}.token: the same token as an earlier entry; give each token once`);
    }
    const first = typeof token === "string" && !seen.has(token);
    if (typeof token === "string") seen.add(token);
    if (name !== undefined && (typeof name !== "string" || name === "")) {
      issues.push(`${at}.name: expected a non-empty string (how logs name this token)`);
    }
    const permissions = allowList(allow, `${label}.allow`, issues);
    if (typeof token === "string" && permissions && first) {
      tokens.set(token, {
        label: typeof name === "string" && name !== "" ? name : tokenLabel(token),
        permissions,
      });
    }
  }
  if (issues.length > 0) {
    throw new UsageError(`token file ${path}:\n${issues.map((issue) => `  ${issue}`).join("\n")}`);
  }
  return tokens;
}

/** An `allow` list checked entry by entry; undefined (with issues added) when any entry is wrong. */
function allowList(allow: unknown, at: string, issues: string[]): Permissions | undefined {
  if (!Array.isArray(allow)) {
    issues.push(
      `${at}: expected a list of permissions, e.g. allow = ["subscribe:*", "fleet:read"] (["*"] for all)`,
    );
    return undefined;
  }
  const before = issues.length;
  for (const [index, entry] of allow.entries()) {
    const problem = typeof entry === "string" ? permissionProblem(entry) : "expected a string";
    if (problem) issues.push(`${at}[${index}]: ${problem}`);
  }
  return issues.length === before ? new Permissions(allow as string[]) : undefined;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
