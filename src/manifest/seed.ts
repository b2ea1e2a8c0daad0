// Reads the original project's seed format (treescale.toml with current_node, top-level [balancers]
// and image→port [containers]; console.toml with tree and [ssh.X]) into native-shaped data.
import { dirname, resolve } from "node:path";
import { didYouMean, ISSUE_CODES, type IssueCode, type PathSegment } from "./issues.js";
import { isPlainObject, RESOURCE_NAME_PATTERN } from "./parse.js";

/** The one balancer a seed file declares is named this. */
export const SEED_BALANCER_NAME = "default";

const SEED_KEYS = ["current_node", "tree", "ssh", "servers", "balancers", "containers"];
const SEED_BALANCER_KEYS = ["address", "alg", "protocol"];

export type SeedIssue = { path: PathSegment[]; code: IssueCode; message: string };

export type SeedSshPatch = {
  server: string;
  /** Native-shaped ssh table: host, port, user, key (resolved), password, host_key. */
  data: unknown;
  /** Source path of a path inside the native ssh table. */
  sourcePath(path: readonly PathSegment[]): PathSegment[];
};

export type SeedReading = {
  /** Native-shaped document: servers, containers, balancers. */
  data: Record<string, unknown>;
  /** Source path (in the seed file) of a path in the native document. */
  sourcePath(path: readonly PathSegment[]): PathSegment[];
  currentNode?: string;
  /** console.toml's `tree`, resolved against the console file's folder. */
  tree?: string;
  ssh: SeedSshPatch[];
  issues: SeedIssue[];
};

export function isSeedDocument(data: Record<string, unknown>): boolean {
  if ("current_node" in data || "tree" in data || "ssh" in data) return true;
  if (isPlainObject(data.balancers) && typeof data.balancers.address === "string") return true;
  // image → port entries: keys such as "ubuntu/php:dev" that could not be a resource name.
  return (
    isPlainObject(data.containers) &&
    Object.entries(data.containers).some(
      ([key, value]) => typeof value === "number" && !RESOURCE_NAME_PATTERN.test(key),
    )
  );
}

/** `file` is the seed file's path on disk; relative paths in it (tree, ssh keys) resolve against its folder. */
export function readSeed(data: Record<string, unknown>, file: string): SeedReading {
  const issues: SeedIssue[] = [];
  const native: Record<string, unknown> = {};
  const reading: SeedReading = { data: native, sourcePath: (path) => [...path], ssh: [], issues };

  for (const key of Object.keys(data)) {
    if (!SEED_KEYS.includes(key))
      issues.push({
        path: [key],
        code: ISSUE_CODES.unknownField,
        message: `unknown field ${JSON.stringify(key)}${didYouMean(key, SEED_KEYS)}`,
      });
  }

  if ("current_node" in data) {
    if (typeof data.current_node !== "string")
      issues.push({
        path: ["current_node"],
        code: ISSUE_CODES.invalidValue,
        message: 'expected a server name or ""',
      });
    else if (data.current_node !== "") reading.currentNode = data.current_node;
  }

  if ("tree" in data) {
    if (typeof data.tree !== "string" || data.tree === "") {
      issues.push({
        path: ["tree"],
        code: ISSUE_CODES.invalidValue,
        message: "expected the path of the tree's treescale.toml",
      });
    } else reading.tree = resolve(dirname(file), data.tree);
  }

  if ("ssh" in data) readSeedSsh(data.ssh, file, reading);

  if ("servers" in data)
    native.servers = isPlainObject(data.servers) ? readSeedServers(data.servers, issues) : data.servers;

  const balancer =
    isPlainObject(data.balancers) && typeof data.balancers.address === "string" ? data.balancers : undefined;
  if (balancer === undefined && "balancers" in data) native.balancers = data.balancers;

  const images: string[] = [];
  if ("containers" in data) {
    if (!isPlainObject(data.containers)) native.containers = data.containers;
    else {
      const containers: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(data.containers)) {
        if (isPlainObject(value)) containers[key] = value;
        else images.push(key);
      }
      if (Object.keys(containers).length > 0) native.containers = containers;
    }
  }

  if (balancer !== undefined) {
    const seedContainers = data.containers as Record<string, unknown>;
    const body: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(balancer)) {
      if (SEED_BALANCER_KEYS.includes(key)) body[key] = value;
      else
        issues.push({
          path: ["balancers", key],
          code: ISSUE_CODES.unknownField,
          message: `unknown field ${JSON.stringify(key)}${didYouMean(key, SEED_BALANCER_KEYS)}`,
        });
    }
    const node = serverAtAddress(native.servers, balancer.address as string);
    if (node !== undefined) body.node = node;
    body.backends = images.map((image) => ({ image, port: seedContainers[image], weight: 1 }));
    native.balancers = { [SEED_BALANCER_NAME]: body };
    reading.sourcePath = (path) => seedBalancerSource(path, images);
  } else {
    for (const image of images) {
      issues.push({
        path: ["containers", image],
        code: ISSUE_CODES.missingField,
        message: "an image→port backend needs a top-level [balancers] table with an address to balance from",
      });
    }
  }
  return reading;
}

function readSeedServers(servers: Record<string, unknown>, issues: SeedIssue[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, server] of Object.entries(servers)) {
    if (!isPlainObject(server)) {
      result[name] = server;
      continue;
    }
    const { name: declaredName, ...rest } = server;
    if (declaredName !== undefined && declaredName !== name) {
      issues.push({
        path: ["servers", name, "name"],
        code: ISSUE_CODES.conflict,
        message: `name ${JSON.stringify(declaredName)} differs from the table's name ${JSON.stringify(name)}`,
      });
    }
    result[name] = rest;
  }
  return result;
}

function readSeedSsh(ssh: unknown, file: string, reading: SeedReading): void {
  if (!isPlainObject(ssh)) {
    reading.issues.push({
      path: ["ssh"],
      code: ISSUE_CODES.invalidValue,
      message: "expected a table of [ssh.<server>] tables",
    });
    return;
  }
  for (const [server, access] of Object.entries(ssh)) {
    if (!isPlainObject(access)) {
      reading.issues.push({
        path: ["ssh", server],
        code: ISSUE_CODES.invalidValue,
        message: "expected a table {host, port, key, username, password}",
      });
      continue;
    }
    const data: Record<string, unknown> = {};
    const renamed = new Map<string, string>();
    for (const [key, value] of Object.entries(access)) {
      const nativeKey = key === "username" ? "user" : key;
      if (nativeKey !== key) renamed.set(nativeKey, key);
      if (key === "port" && typeof value === "string" && /^\d+$/.test(value)) data.port = Number(value);
      else if (key === "key" && typeof value === "string") data.key = resolve(dirname(file), value);
      else data[nativeKey] = value;
    }
    reading.ssh.push({
      server,
      data,
      sourcePath: ([first, ...rest]) =>
        first === undefined ? ["ssh", server] : ["ssh", server, renamed.get(String(first)) ?? first, ...rest],
    });
  }
}

function serverAtAddress(servers: unknown, address: string): string | undefined {
  if (!isPlainObject(servers)) return undefined;
  const ip = address.slice(0, address.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  return Object.entries(servers).find(([, server]) => isPlainObject(server) && server.ip === ip)?.[0];
}

function seedBalancerSource(path: readonly PathSegment[], images: readonly string[]): PathSegment[] {
  const [kind, name, field, index] = path;
  if (kind !== "balancers" || name !== SEED_BALANCER_NAME) return [...path];
  if (field === undefined) return ["balancers"];
  if (field === "node") return ["balancers", "address"];
  if (field === "backends") {
    const image = typeof index === "number" ? images[index] : undefined;
    return image === undefined ? ["containers"] : ["containers", image];
  }
  return ["balancers", ...path.slice(2)];
}
