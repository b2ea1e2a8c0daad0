// Keeps a node joined to its parent: dial, handshake, and on loss reconnect with capped, jittered backoff.
// The interest of this node's whole subtree is re-advertised on every new link by the server.
import { connect as connectTcp, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "../backoff.js";
import type { BusServer } from "./bus-server.js";
import type { Logger } from "./log.js";
import { SocketWire } from "./wire.js";

/** Default for ParentLinkOptions.handshakeTimeoutMs. */
export const DEFAULT_PARENT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ParentLinkOptions {
  host: string;
  port: number;
  /** TLS options when the parent listens with TLS. */
  tls?: ConnectionOptions | undefined;
  backoff?: BackoffOptions;
  /**
   * Longest time from dialing the parent to its READY: the TCP (and TLS) connection, then the challenge.
   * A parent that takes the connection and stays silent is a failed attempt, retried with the backoff.
   */
  handshakeTimeoutMs?: number;
  log?: Logger;
}

export class ParentLink {
  private stopped = false;
  private socket: Socket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  /** The cause last warned about: a warning per distinct cause, not per retry. */
  private warned: string | undefined;

  constructor(
    private readonly server: BusServer,
    private readonly options: ParentLinkOptions,
  ) {}

  start(): void {
    this.dial();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    this.socket?.destroy();
  }

  /** The address this node's link to its parent leaves from: where the parent reaches this node. */
  get localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  private get address(): string {
    return `${this.options.tls ? "tls" : "tcp"}://${this.options.host}:${this.options.port}`;
  }

  private dial(): void {
    if (this.stopped) return;
    const { host, port, tls } = this.options;
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_PARENT_HANDSHAKE_TIMEOUT_MS;
    const socket = tls ? connectTls({ ...tls, host, port }) : connectTcp({ host, port });
    this.socket = socket;
    let attached = false;
    let timedOut: string | undefined;
    // One retry per attempt, whichever of the deadline, a dial error or the link's end comes first.
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      this.retry(reason);
    };
    const deadline = setTimeout(() => {
      timedOut = attached
        ? `the parent at ${this.address} took the connection but sent no READY within ${timeoutMs} ms ` +
          "(handshake timed out)"
        : `could not connect to the parent at ${this.address} within ${timeoutMs} ms ` +
          `(connect timed out${tls ? ", TLS handshake included" : ""})`;
      socket.destroy();
      // Before the wire is attached, no link exists whose end would schedule the retry.
      if (!attached) end(timedOut);
    }, timeoutMs);
    deadline.unref();
    this.deadline = deadline;
    socket.once(tls ? "secureConnect" : "connect", () => {
      attached = true;
      const linked = () => clearTimeout(deadline);
      void this.server.attachParent(new SocketWire(socket), linked).then(({ ready, reason }) => {
        if (ready) {
          this.attempt = 0;
          this.warned = undefined;
        }
        end(timedOut ?? reason);
      });
    });
    socket.once("error", (error) => {
      if (!attached) {
        socket.destroy();
        const code = (error as { code?: unknown }).code;
        end(typeof code === "string" ? `${error.message} (${code})` : error.message);
      }
    });
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    const diagnosis = diagnose(reason);
    if (diagnosis && diagnosis.cause !== this.warned) {
      this.warned = diagnosis.cause;
      this.options.log?.("warn", `cannot link to the parent: ${diagnosis.cause}`, {
        parent: this.address,
        reason,
        fix: diagnosis.fix,
      });
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff ?? DEFAULT_BACKOFF);
    this.options.log?.("info", "reconnecting to parent", {
      parent: `${this.options.host}:${this.options.port}`,
      inMs: delay,
      reason,
    });
    this.timer = setTimeout(() => this.dial(), delay);
    this.timer.unref();
  }
}

/** A failure that retrying cannot cure, in words that say what to change; undefined for any other. */
function diagnose(reason: string): { cause: string; fix: string } | undefined {
  if (/ERR_TLS_CERT_ALTNAME_INVALID/.test(reason)) {
    return {
      cause: "the parent's TLS certificate does not list the address this node dials",
      fix: "give --parent a name or address the parent's certificate lists",
    };
  }
  if (
    /SELF_SIGNED|UNABLE_TO_(VERIFY|GET)_|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/.test(
      reason,
    )
  ) {
    return {
      cause: "this node cannot verify the parent's TLS certificate",
      fix: "give this node the CA that signed the parent's certificate: --tls-ca FILE (with --tls-cert and --tls-key), or NODE_EXTRA_CA_CERTS=FILE",
    };
  }
  if (/ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG/.test(reason)) {
    return {
      cause: "the parent does not speak TLS",
      fix: "drop tls:// from --parent (and --tls-ca here, which also turns TLS on for the link)",
    };
  }
  if (/^auth_failed\b/.test(reason)) {
    return {
      cause: "the parent refused this node (auth_failed)",
      fix:
        "the cluster secret differs: give every node the same --cluster-secret file; with --tls-ca on the " +
        "parent, this node's certificate must also be signed by that CA",
    };
  }
  return undefined;
}
