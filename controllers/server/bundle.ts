// What each server's node is given by a build: its seed-format treescale.toml (its own name as
// current_node, every server so it finds its parent), the tree's token file and cluster secret, and
// the arguments it runs with. Values are written as TOML data, never as shell.
import { stringify } from "smol-toml";
import type { ServerSpec } from "../../src/model/resources.js";
/** What the nodes of one tree share: made by a build, kept with its context. */
export type TreeCredentials = { clusterSecret: string; adminToken: string };

import type { NodeBundle } from "./steps.js";

export function nodeBundle(
  node: string,
  servers: Readonly<Record<string, ServerSpec>>,
  credentials: TreeCredentials,
): NodeBundle {
  const seed = {
    current_node: node,
    servers: Object.fromEntries(
      Object.values(servers)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((s) => [s.name, { ip: s.ip, service_port: s.servicePort, tags: s.tags, childs: s.childs }]),
    ),
  };
  const tokens = { token: [{ token: credentials.adminToken, name: "admin", allow: ["*"] }] };
  return {
    node,
    files: {
      "treescale.toml": { content: `${stringify(seed)}\n`, mode: 0o644 },
      "tokens.toml": { content: `${stringify(tokens)}\n`, mode: 0o600 },
      secret: { content: `${credentials.clusterSecret}\n`, mode: 0o600 },
    },
    args: [
      "node",
      "--config",
      "/etc/treescale/treescale.toml",
      "--tokens",
      "/etc/treescale/tokens.toml",
      "--cluster-secret",
      "/etc/treescale/secret",
      "--home",
      "/var/lib/treescale",
    ],
  };
}
