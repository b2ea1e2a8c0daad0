// Where and as whom the SSH driver logs in, and how it trusts the server.
import type { SshAccess } from "../model/resources.js";

export type SshTarget = {
  host: string;
  port: number;
  user: string;
  /** Private key file path (PEM/OpenSSH), or undefined. */
  keyPath?: string;
  password?: string;
  /** Use the ssh-agent at $SSH_AUTH_SOCK when no key/password works. */
  agent?: boolean;
  /** Pinned host key, "SHA256:base64" as ssh-keygen -lf prints it. */
  hostKey?: string;
  /** known_hosts file to check against (default ~/.ssh/known_hosts). */
  knownHosts?: string;
  /** Accept and record an unknown host key (never a changed one). */
  acceptNew?: boolean;
};

/** "user@host:port", the way every SSH error names its server. */
export function describeTarget(target: { host: string; port: number; user: string }): string {
  return `${target.user}@${target.host}:${target.port}`;
}

/** A manifest's ssh block as the driver takes it: root unless a user is named, the agent as a fallback. */
export function targetOf(access: SshAccess, acceptNew: boolean): SshTarget {
  return {
    host: access.host,
    port: access.port,
    user: access.user ?? "root",
    agent: true,
    acceptNew,
    ...(access.keyFile !== undefined ? { keyPath: access.keyFile } : {}),
    ...(access.password !== undefined ? { password: access.password } : {}),
    ...(access.hostKey !== undefined ? { hostKey: access.hostKey } : {}),
  };
}
