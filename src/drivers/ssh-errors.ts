// The SSH driver's failures: one class, stable codes, and messages that name the server and the fix.
import { TreescaleError } from "../errors.js";

export const SSH_ERROR = {
  hostKeyChanged: "SSH_HOST_KEY_CHANGED",
  hostKeyUnknown: "SSH_HOST_KEY_UNKNOWN",
  /** The presented key is marked @revoked in known_hosts. */
  hostKeyRevoked: "SSH_HOST_KEY_REVOKED",
  authFailed: "SSH_AUTH_FAILED",
  unreachable: "SSH_UNREACHABLE",
  timeout: "SSH_TIMEOUT",
  /** sudo wants a password and the target has none, or refused the one it has. */
  sudoFailed: "SSH_SUDO_FAILED",
  /** An SFTP call failed (permission denied, no such directory, disk full). */
  transferFailed: "SSH_TRANSFER_FAILED",
  /** The server refused a channel or the connection broke mid-call. */
  channelFailed: "SSH_CHANNEL_FAILED",
} as const;

export type SshErrorCode = (typeof SSH_ERROR)[keyof typeof SSH_ERROR];

export class SshError extends TreescaleError {
  /** "user@host:port". */
  readonly destination: string;
  constructor(code: SshErrorCode, destination: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.destination = destination;
  }
}
