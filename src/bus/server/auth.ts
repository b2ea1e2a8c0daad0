// Client authentication: a token file, the operator's HTTP auth hook, or both (either may accept). What
// it answers is the connection's grant: its permissions and the name logs give it (never the token).
// Node links authenticate separately, by cluster-secret challenge–response (see handshake.ts).
import { readFile } from "node:fs/promises";
import { UsageError } from "../../errors.js";
import { type Grant, Permissions, permissionProblem } from "./permissions.js";
import {
  fullGrant,
  parsePlainTokens,
  parseTokenFile,
  reconcileTokens,
  type TokenFile,
  type TokenTable,
  tokenLabel,
} from "./token-file.js";

/** An accepted client's grant; an Authenticator that gives none (written before grants) allows everything. */
/**
 * Why an authentication failed, as a metric's label: a fixed set, so that nothing a client sends (least
 * of all a token) becomes a label.
 */
export const AUTH_FAILURE_KINDS = [
  "no_token",
  "unknown_token",
  "hook_refused",
  "hook_unavailable",
  "hook_bad_answer",
  "node_refused",
  "node_proof",
] as const;
export type AuthFailureKind = (typeof AUTH_FAILURE_KINDS)[number];

export type AuthResult = { ok: true; grant?: Grant } | { ok: false; reason: string; kind: AuthFailureKind };

export interface Authenticator {
  check(token: string | undefined, remote: string): Promise<AuthResult>;
}

/** An authenticator whose token table can be replaced while the node runs (a reloaded token file). */
export interface TokenAuthenticator extends Authenticator {
  /** Takes `next` as the token table; returns the grants it took away (see reconcileTokens). */
  replaceTokens(next: TokenTable): ReadonlySet<Grant>;
}

/** One token per line; blank lines and lines starting with # are ignored. */
export function parseTokens(text: string): Set<string> {
  return parsePlainTokens(text);
}

export async function loadTokenFile(path: string): Promise<TokenFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read token file ${path}: ${(error as Error).message}`, { cause: error });
  }
  return parseTokenFile(text, path);
}

export interface AuthOptions {
  node: string;
  /** Tokens with their grants; a set of plain tokens grants each of them everything. */
  tokens?: ReadonlySet<string> | TokenTable | undefined;
  hookUrl?: string | undefined;
  hookTimeoutMs?: number | undefined;
}

/** What a node without tokens or hook gives every client: everything, as before tokens existed. */
export const OPEN_GRANT: Grant = { label: "anonymous", permissions: Permissions.all };

/**
 * The grant an accepting hook answer carries: `allow` (absent: everything, as hooks written before it
 * meant) and `name` for the logs. An `allow` that is not a list of permissions refuses the client.
 */
function hookGrant(token: string, body: Record<string, unknown>): AuthResult {
  const label =
    typeof body.name === "string" && body.name !== "" ? body.name.slice(0, 80) : tokenLabel(token);
  if (body.allow === undefined) return { ok: true, grant: { label, permissions: Permissions.all } };
  if (!Array.isArray(body.allow)) {
    return {
      ok: false,
      reason: "auth hook answered an allow that is not a list of permissions",
      kind: "hook_bad_answer",
    };
  }
  for (const entry of body.allow) {
    const problem = typeof entry === "string" ? permissionProblem(entry) : "an entry is not a string";
    if (problem)
      return {
        ok: false,
        reason: `auth hook answered an allow list this node cannot use: ${problem}`,
        kind: "hook_bad_answer",
      };
  }
  return { ok: true, grant: { label, permissions: new Permissions(body.allow as string[]) } };
}

/**
 * POSTs {token, node, remote}; only a 2xx answer whose JSON body has status "success" accepts. The answer's
 * body is never quoted in the reason (it is logged and sent to the client, and a hook may echo the token).
 */
async function askHook(
  url: string,
  timeoutMs: number,
  token: string,
  node: string,
  remote: string,
): Promise<AuthResult> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, node, remote }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed))
        body = parsed as Record<string, unknown>;
    } catch {
      body = {};
    }
    if (response.ok && body.status === "success") return hookGrant(token, body);
    return {
      ok: false,
      kind: "hook_refused",
      reason: response.ok
        ? `auth hook answered ${response.status} without {"status":"success"}`
        : `auth hook answered ${response.status}`,
    };
  } catch (error) {
    const name = (error as Error).name;
    const reason =
      name === "TimeoutError" || name === "AbortError"
        ? `auth hook did not answer within ${timeoutMs} ms`
        : `auth hook unreachable: ${(error as Error).message}`;
    return { ok: false, reason, kind: "hook_unavailable" };
  }
}

function tokenTable(tokens: ReadonlySet<string> | TokenTable | undefined): TokenTable | undefined {
  if (tokens === undefined || tokens instanceof Map) return tokens as TokenTable | undefined;
  return new Map([...(tokens as ReadonlySet<string>)].map((token) => [token, fullGrant(token)]));
}

export function createAuthenticator(options: AuthOptions): TokenAuthenticator {
  const { hookUrl } = options;
  let tokens = tokenTable(options.tokens);
  const timeoutMs = options.hookTimeoutMs ?? 2000;
  return {
    async check(token, remote) {
      if (!tokens && !hookUrl) return { ok: true, grant: OPEN_GRANT };
      if (token === undefined || token === "")
        return { ok: false, reason: "no token given", kind: "no_token" };
      const grant = tokens?.get(token);
      if (grant) return { ok: true, grant };
      if (hookUrl) return askHook(hookUrl, timeoutMs, token, options.node, remote);
      return { ok: false, reason: "token not in the token file", kind: "unknown_token" };
    },
    replaceTokens(next) {
      const reconciled = reconcileTokens(tokens ?? new Map(), next);
      tokens = reconciled.tokens;
      return reconciled.revoked;
    },
  };
}
