// The trees this machine has built, as kubectl keeps clusters in a kubeconfig: per context, the
// root's address and the admin token, and the credentials the tree's nodes share; and which context
// is current. Files are this user's only (0600, in a 0700 folder).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { readFileIfExists, writeFileAtomic } from "./atomic-file.js";

export type TreeContext = {
  name: string;
  /** The root node, as --node takes it (tcp://ip:port, or tls://ip:port for a tree built with TLS). */
  node: string;
  token: string;
  /** The tree's CA (PEM file), as --ca takes it: set when the tree was built with TLS. */
  ca?: string;
  servers: string[];
  builtAt: string;
};

export type TreeCredentials = { clusterSecret: string; adminToken: string };

/** What the last build that reached a server found there, as `treescale get servers` shows it. */
export type ServerRecord = {
  name: string;
  /** The declared parent; undefined for the root. */
  parent?: string;
  /** When that build ended (ISO 8601), and how it went for this server. */
  builtAt: string;
  ok: boolean;
  /** The step that failed ("connect", "image", …, or "join" when it never answered in the tree). */
  failedStep?: string;
  error?: string;
  /** Docker's version, and the node image's tag and short ID, as last seen there. */
  docker?: string;
  image?: string;
};

const dirOf = (home: string, name?: string) =>
  name === undefined ? join(home, "contexts") : join(home, "contexts", name);

async function privateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}

async function writePrivate(path: string, content: string): Promise<void> {
  await writeFileAtomic(path, content);
  await chmod(path, 0o600);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  const text = await readFileIfExists(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON (${(error as Error).message}): fix or remove it`);
  }
}

/** The context's shared secret and admin token, made once and kept: every build of it reuses them. */
export async function ensureCredentials(home: string, name: string): Promise<TreeCredentials> {
  const path = join(dirOf(home, name), "credentials.json");
  const held = await readJson<TreeCredentials>(path);
  if (held?.clusterSecret && held.adminToken) return held;
  const made = {
    clusterSecret: randomBytes(32).toString("base64url"),
    adminToken: randomBytes(24).toString("base64url"),
  };
  await privateDir(dirOf(home, name));
  await writePrivate(path, `${JSON.stringify(made, null, 2)}\n`);
  return made;
}

export async function saveContext(home: string, context: TreeContext): Promise<void> {
  await privateDir(dirOf(home, context.name));
  await writePrivate(
    join(dirOf(home, context.name), "context.json"),
    `${JSON.stringify(context, null, 2)}\n`,
  );
}

/** The servers' records of a context, by name: empty when no build has recorded any. */
export async function readServerRecords(home: string, name: string): Promise<ServerRecord[]> {
  return (await readJson<ServerRecord[]>(join(dirOf(home, name), "servers.json"))) ?? [];
}

export async function saveServerRecords(
  home: string,
  name: string,
  records: readonly ServerRecord[],
): Promise<void> {
  await privateDir(dirOf(home, name));
  await writePrivate(join(dirOf(home, name), "servers.json"), `${JSON.stringify(records, null, 2)}\n`);
}

export async function useContext(home: string, name: string): Promise<void> {
  if (!(await readContext(home, name)))
    throw new UsageError(`no context named "${name}": see treescale context list`);
  await privateDir(dirOf(home));
  await writePrivate(join(dirOf(home), "current"), `${name}\n`);
}

export async function readContext(home: string, name: string): Promise<TreeContext | undefined> {
  return readJson<TreeContext>(join(dirOf(home, name), "context.json"));
}

export async function currentContextName(home: string): Promise<string | undefined> {
  return (await readFileIfExists(join(dirOf(home), "current")))?.trim() || undefined;
}

/** The context a verb talks to: the one named (--context, $TREESCALE_CONTEXT), else the current one. */
export async function chosenContext(
  home: string,
  named: string | undefined,
): Promise<TreeContext | undefined> {
  const name = named ?? (await currentContextName(home));
  if (name === undefined) return undefined;
  const context = await readContext(home, name);
  if (!context && named !== undefined)
    throw new UsageError(`no context named "${named}": see treescale context list`);
  return context;
}

export async function listContexts(home: string): Promise<TreeContext[]> {
  let names: string[];
  try {
    names = await readdir(dirOf(home));
  } catch {
    return [];
  }
  const found = await Promise.all(names.map((name) => readContext(home, name)));
  return found.filter((c): c is TreeContext => c !== undefined).sort((a, b) => a.name.localeCompare(b.name));
}
