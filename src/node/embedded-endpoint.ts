// How CLI verbs find a running embedded node (started by `treescale watch` or `treescale events`
// without --node): it records its address and a random token, readable by this user only, under
// $TREESCALE_HOME; a record whose process is gone is ignored.
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { readFileIfExists, writeFileAtomic } from "../state/atomic-file.js";

/** `url` is empty while the claiming process is still starting the node. */
export type EmbeddedEndpoint = { node: string; url: string; token: string; pid: number };

function pathOf(home: string, node: string): string {
  return join(home, "nodes", node, "endpoint.json");
}

export function newEmbeddedToken(): string {
  return randomBytes(24).toString("base64url");
}

/** The running embedded node's endpoint; waits briefly while its process is still starting it. */
export async function findEmbeddedEndpoint(
  home: string,
  node: string,
): Promise<EmbeddedEndpoint | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const endpoint = await readLive(pathOf(home, node));
    if (endpoint?.url !== "") return endpoint;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

async function readLive(path: string): Promise<EmbeddedEndpoint | undefined> {
  const text = await readFileIfExists(path);
  if (!text) return undefined;
  try {
    const endpoint = JSON.parse(text) as EmbeddedEndpoint;
    process.kill(endpoint.pid, 0);
    return endpoint;
  } catch {
    return undefined;
  }
}

/**
 * Claims the record for this process; false when another live process holds it (two embedded
 * nodes for one name would run rival agents). A record whose process is gone is taken over.
 */
export async function claimEmbeddedEndpoint(home: string, endpoint: EmbeddedEndpoint): Promise<boolean> {
  const path = pathOf(home, endpoint.node);
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(`${JSON.stringify(endpoint)}\n`);
      await handle.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (await readLive(path)) return false;
      await discard(path);
    }
  }
  return false;
}

/** Fills in the address once the node listens (the record was claimed before it started). */
export function publishEmbeddedEndpoint(home: string, endpoint: EmbeddedEndpoint): Promise<void> {
  return writeFileAtomic(pathOf(home, endpoint.node), `${JSON.stringify(endpoint)}\n`);
}

/**
 * Takes a stale record out of the way by renaming it first: of two processes that both found it
 * stale, only one rename succeeds, so they cannot both remove a record the other just claimed.
 */
async function discard(path: string): Promise<void> {
  const aside = `${path}.${process.pid}.stale`;
  try {
    await rename(path, aside);
    await rm(aside, { force: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** A record whose address refuses connections (its pid reused by another program) is stale. */
export async function discardEmbeddedEndpoint(home: string, endpoint: EmbeddedEndpoint): Promise<void> {
  const current = await readFileIfExists(pathOf(home, endpoint.node));
  if (current && (JSON.parse(current) as EmbeddedEndpoint).token === endpoint.token) {
    await discard(pathOf(home, endpoint.node));
  }
}

/** Removes the record only if this process holds it. */
export async function forgetEmbeddedEndpoint(home: string, node: string): Promise<void> {
  const text = await readFileIfExists(pathOf(home, node));
  if (!text) return;
  try {
    if ((JSON.parse(text) as EmbeddedEndpoint).pid !== process.pid) return;
  } catch {
    // An unreadable record is nobody's: remove it.
  }
  await rm(pathOf(home, node), { force: true });
}
