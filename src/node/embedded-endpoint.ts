// How CLI verbs find a running embedded node (started by `treescale watch` or `treescale events`
// without --node): it records its address and a random token, readable by this user only, under
// $TREESCALE_HOME; a record whose process is gone is ignored.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { readFileIfExists, writeFileAtomic } from "../state/atomic-file.js";

export type EmbeddedEndpoint = { node: string; url: string; token: string; pid: number };

function pathOf(home: string, node: string): string {
  return join(home, "nodes", node, "endpoint.json");
}

export function newEmbeddedToken(): string {
  return randomBytes(24).toString("base64url");
}

export async function findEmbeddedEndpoint(
  home: string,
  node: string,
): Promise<EmbeddedEndpoint | undefined> {
  const text = await readFileIfExists(pathOf(home, node));
  if (!text) return undefined;
  try {
    const endpoint = JSON.parse(text) as EmbeddedEndpoint;
    process.kill(endpoint.pid, 0);
    return endpoint;
  } catch {
    return undefined;
  }
}

export function recordEmbeddedEndpoint(home: string, endpoint: EmbeddedEndpoint): Promise<void> {
  return writeFileAtomic(pathOf(home, endpoint.node), `${JSON.stringify(endpoint)}\n`);
}

export async function forgetEmbeddedEndpoint(home: string, node: string): Promise<void> {
  await rm(pathOf(home, node), { force: true });
}
