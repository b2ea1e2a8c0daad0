// What each server's node is given by a build: its seed-format treescale.toml (its own name as
// current_node, every server so it finds its parent), the tree's token file and cluster secret, and
// the arguments it runs with. Values are written as TOML data, never as shell.
import { stringify } from "smol-toml";
import { InternalError } from "../../src/errors.js";
import type { ServerSpec } from "../../src/model/resources.js";
import type { NodeBundle } from "./steps.js";

/**
 * What the nodes of one tree share: made by a build, kept with its context. With TLS, the CA every
 * node trusts and each node's own certificate and key (its name and address in its SAN).
 */
export type TreeCredentials = {
  clusterSecret: string;
  adminToken: string;
  tls?: { ca: string; nodes: Readonly<Record<string, { cert: string; key: string }>> };
};

/** Where a node container sees its files (its server's /etc/treescale/NAME, mounted read-only). */
export const CONFIG_DIR = "/etc/treescale";

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
  const files: NodeBundle["files"] = {
    "treescale.toml": { content: `${stringify(seed)}\n`, mode: 0o644 },
    "tokens.toml": { content: `${stringify(tokens)}\n`, mode: 0o600 },
    secret: { content: `${credentials.clusterSecret}\n`, mode: 0o600 },
  };
  const args = [
    "node",
    "--config",
    `${CONFIG_DIR}/treescale.toml`,
    "--tokens",
    `${CONFIG_DIR}/tokens.toml`,
    "--cluster-secret",
    `${CONFIG_DIR}/secret`,
    "--home",
    "/var/lib/treescale",
  ];
  if (credentials.tls) {
    const own = credentials.tls.nodes[node];
    if (!own) throw new InternalError(`the tree's TLS material has no certificate for ${node}`);
    files["ca.crt"] = { content: credentials.tls.ca, mode: 0o644 };
    files["tls.crt"] = { content: own.cert, mode: 0o644 };
    files["tls.key"] = { content: own.key, mode: 0o600 };
    // --tls-ca makes every link mutual TLS: a child proves itself with its certificate, and dials
    // its parent over TLS checking the parent's against the CA.
    args.push(
      "--tls-cert",
      `${CONFIG_DIR}/tls.crt`,
      "--tls-key",
      `${CONFIG_DIR}/tls.key`,
      "--tls-ca",
      `${CONFIG_DIR}/ca.crt`,
    );
  }
  return { node, files, args };
}
