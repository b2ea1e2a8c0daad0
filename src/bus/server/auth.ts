// Client authentication: a token file, the operator's HTTP auth hook, or both (either may accept).
// Node links authenticate separately, by cluster-secret challenge–response (see handshake.ts).
import { readFile } from "node:fs/promises";
import { UsageError } from "../../errors.js";

export type AuthResult = { ok: true } | { ok: false; reason: string };

export interface Authenticator {
  check(token: string | undefined, remote: string): Promise<AuthResult>;
}

/** One token per line; blank lines and lines starting with # are ignored. */
export function parseTokens(text: string): Set<string> {
  const tokens = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line && !line.startsWith("#")) tokens.add(line);
  }
  return tokens;
}

export async function loadTokenFile(path: string): Promise<Set<string>> {
  try {
    return parseTokens(await readFile(path, "utf8"));
  } catch (error) {
    throw new UsageError(`cannot read token file ${path}: ${(error as Error).message}`, { cause: error });
  }
}

export interface AuthOptions {
  node: string;
  tokens?: ReadonlySet<string> | undefined;
  hookUrl?: string | undefined;
  hookTimeoutMs?: number | undefined;
}

/** POSTs {token, node, remote}; only a 2xx answer whose JSON body has status "success" accepts. */
async function askHook(url: string, timeoutMs: number, body: Record<string, string>): Promise<AuthResult> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let status: unknown;
    try {
      status = (JSON.parse(text) as { status?: unknown }).status;
    } catch {
      status = undefined;
    }
    if (response.ok && status === "success") return { ok: true };
    return { ok: false, reason: `auth hook answered ${response.status} ${text.slice(0, 80)}` };
  } catch (error) {
    const name = (error as Error).name;
    const reason =
      name === "TimeoutError" || name === "AbortError"
        ? `auth hook did not answer within ${timeoutMs} ms`
        : `auth hook unreachable: ${(error as Error).message}`;
    return { ok: false, reason };
  }
}

export function createAuthenticator(options: AuthOptions): Authenticator {
  const { tokens, hookUrl } = options;
  const timeoutMs = options.hookTimeoutMs ?? 2000;
  return {
    async check(token, remote) {
      if (!tokens && !hookUrl) return { ok: true };
      if (token === undefined || token === "") return { ok: false, reason: "no token given" };
      if (tokens?.has(token)) return { ok: true };
      if (hookUrl) return askHook(hookUrl, timeoutMs, { token, node: options.node, remote });
      return { ok: false, reason: "token not in the token file" };
    },
  };
}
