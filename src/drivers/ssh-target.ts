// Where and as whom the SSH driver logs in, and how it trusts the server.

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
