// What a node takes from a seed-format treescale.toml, read by the project's manifest loader: its name
// (`current_node` unless --name), service port and tags, and its parent (the server whose `childs` list it).

import { UsageError } from "../errors.js";
import { formatIssue, loadManifests } from "../manifest/index.js";
import type { ImageSource, ServerSpec } from "../model/resources.js";

export interface SeedNode {
  name: string;
  ip: string;
  servicePort: number;
  tags: string[];
  parent?: { name: string; ip: string; servicePort: number };
  imageSource?: ImageSource;
}

/** Pure: picks this node and its parent out of the declared servers. */
export function seedNode(
  servers: Readonly<Record<string, ServerSpec>>,
  name: string | undefined,
  currentNode: string | undefined,
  file: string,
): SeedNode {
  const chosen = name || currentNode;
  if (!chosen) {
    throw new UsageError(`${file} sets no current_node: pass --name (this node's name in the tree)`);
  }
  const self = servers[chosen];
  if (!self) {
    const known = Object.keys(servers).join(", ") || "none";
    throw new UsageError(`${file}: no server named "${chosen}" (servers: ${known})`);
  }
  const node: SeedNode = { name: chosen, ip: self.ip, servicePort: self.servicePort, tags: self.tags };
  if (self.imageSource !== undefined) node.imageSource = self.imageSource;
  const parent = Object.values(servers).find((server) => server.childs.includes(chosen));
  if (parent) node.parent = { name: parent.name, ip: parent.ip, servicePort: parent.servicePort };
  return node;
}

/** Loads the seed file; every manifest issue is reported at once, with its file:line. */
export async function loadSeedNode(file: string, name: string | undefined): Promise<SeedNode> {
  const result = await loadManifests([file]);
  if (result.issues.length > 0) {
    throw new UsageError(`${file} is not a valid seed file:\n${result.issues.map(formatIssue).join("\n")}`);
  }
  return seedNode(result.desired.servers, name, result.currentNode, file);
}
