// Reads what a node needs from a seed-format treescale.toml: its service port, tags, and its parent (the
// server whose `childs` lists it). Deliberately minimal; src/manifest owns full manifest parsing.
import { readFile } from "node:fs/promises";
import { parse } from "smol-toml";
import { UsageError } from "../errors.js";

export interface SeedNode {
  name: string;
  ip?: string;
  servicePort?: number;
  tags: string[];
  parent?: { name: string; ip?: string; servicePort?: number };
}

interface SeedServer {
  name: string;
  ip?: string;
  servicePort?: number;
  tags: string[];
  childs: string[];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function toServer(name: string, raw: unknown): SeedServer | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const server: SeedServer = {
    name: typeof r.name === "string" ? r.name : name,
    tags: strings(r.tags),
    childs: strings(r.childs ?? r.children),
  };
  if (typeof r.ip === "string") server.ip = r.ip;
  const port = r.service_port ?? r.port;
  if (typeof port === "number" || typeof port === "bigint") server.servicePort = Number(port);
  return server;
}

/** Servers appear as [server.NAME] / [servers.NAME] tables or [[server]] arrays with a name field. */
export function seedServers(document: Record<string, unknown>): SeedServer[] {
  const servers: SeedServer[] = [];
  for (const key of ["server", "servers"]) {
    const section = document[key];
    if (Array.isArray(section)) {
      for (const item of section) {
        const server = toServer("", item);
        if (server?.name) servers.push(server);
      }
    } else if (typeof section === "object" && section !== null) {
      for (const [name, raw] of Object.entries(section)) {
        const server = toServer(name, raw);
        if (server) servers.push(server);
      }
    }
  }
  return servers;
}

export function seedNode(text: string, name: string, file: string): SeedNode {
  let document: Record<string, unknown>;
  try {
    document = parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`, { cause: error });
  }
  const servers = seedServers(document);
  const self = servers.find((server) => server.name === name);
  if (!self) {
    const known = servers.map((server) => server.name).join(", ") || "none";
    throw new UsageError(`${file}: no server named "${name}" (servers: ${known})`);
  }
  const node: SeedNode = { name, tags: self.tags };
  if (self.ip !== undefined) node.ip = self.ip;
  if (self.servicePort !== undefined) node.servicePort = self.servicePort;
  const parent = servers.find((server) => server.childs.includes(name));
  if (parent) {
    node.parent = { name: parent.name };
    if (parent.ip !== undefined) node.parent.ip = parent.ip;
    if (parent.servicePort !== undefined) node.parent.servicePort = parent.servicePort;
  }
  return node;
}

export async function loadSeedNode(file: string, name: string): Promise<SeedNode> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return seedNode(text, name, file);
}
