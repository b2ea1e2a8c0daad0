// Keeps a node joined to the tree: dial its parent, handshake, and on loss reconnect with capped, jittered
// backoff. While the configured parent is gone, the node links to its grandparent (which the parent named
// in READY), so that its subtree keeps receiving; it keeps retrying the parent meanwhile and moves back
// under it as soon as it answers. The interest of the whole subtree is re-advertised on every new link.
import { connect as connectTcp, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "../backoff.js";
import type { GrandparentAddress, ReadyBody } from "../protocol/index.js";
import { SlabReads } from "../slab-reads.js";
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

interface DialTarget {
  host: string;
  port: number;
  /** How the logs name the other end: "parent", or "grandparent" while falling back to it. */
  role: "parent" | "grandparent";
}

export class ParentLink {
  private readonly primary: LinkAttempts;
  /** Dialing (or linked to) the grandparent while the configured parent is gone. */
  private fallback: LinkAttempts | undefined;
  private grandparent: GrandparentAddress | undefined;
  private stopped = false;

  constructor(
    private readonly server: BusServer,
    private readonly options: ParentLinkOptions,
  ) {
    this.primary = new LinkAttempts(server, { ...options, role: "parent" }, options, {
      ready: (ready) => this.parentReady(ready),
      lost: () => this.parentLost(),
    });
  }

  start(): void {
    this.primary.start();
  }

  stop(): void {
    this.stopped = true;
    this.primary.stop();
    this.fallback?.stop();
  }

  /** The address this node's link upward leaves from: where the node above reaches this node. */
  get localAddress(): string | undefined {
    return (this.primary.linked || !this.fallback ? this.primary : this.fallback).localAddress;
  }

  /** The configured parent answered (or, linked, told of a new grandparent): back under it. */
  private parentReady(ready: ReadyBody): void {
    // A grandparent that is this node itself (a re-parenting in flight) is no place to fall back to.
    this.grandparent = ready.grandparent?.node === this.server.name ? undefined : ready.grandparent;
    const fallback = this.fallback;
    if (!fallback) return;
    this.fallback = undefined;
    // The server has already moved the link over (the fallback was told `moved`); only its retries end.
    fallback.stop();
    this.options.log?.("info", "back under the configured parent", {
      parent: ready.node,
      left: `${fallback.target.host}:${fallback.target.port}`,
    });
  }

  /** The configured parent is gone (or not reachable): link to the grandparent until it answers again. */
  private parentLost(): void {
    const grandparent = this.grandparent;
    if (this.stopped || this.fallback || !grandparent) return;
    this.options.log?.("warn", "parent gone: linking to the grandparent until it returns", {
      parent: `${this.options.host}:${this.options.port}`,
      grandparent: grandparent.node,
      at: `${grandparent.host}:${grandparent.port}`,
    });
    this.fallback = new LinkAttempts(
      this.server,
      { host: grandparent.host, port: grandparent.port, role: "grandparent" },
      this.options,
      { ready: () => {}, lost: () => {} },
    );
    // Jittered like a retry, so that the children of a dead node do not all dial at the same instant.
    this.fallback.startAfterBackoff();
  }
}

/** One dial loop to one address: dial, handshake, and on loss retry with capped, jittered backoff. */
class LinkAttempts {
  private stopped = false;
  private socket: Socket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private deadline: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  /** The cause last warned about: a warning per distinct cause, not per retry. */
  private warned: string | undefined;
  /** Whether the current socket carries a link that got READY. */
  linked = false;

  constructor(
    private readonly server: BusServer,
    readonly target: DialTarget,
    private readonly options: ParentLinkOptions,
    private readonly events: { ready(ready: ReadyBody): void; lost(): void },
  ) {}

  start(): void {
    this.dial();
  }

  startAfterBackoff(): void {
    this.retry(undefined);
  }

  /**
   * Ends the retries. A socket still in its handshake is hung up; a linked one is left to the server,
   * which closes it with the reason it has (moved, shutting down) and lets that reason reach the other end.
   */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.linked) this.socket?.destroy();
  }

  get localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  private get address(): string {
    return `${this.options.tls ? "tls" : "tcp"}://${this.target.host}:${this.target.port}`;
  }

  private dial(): void {
    if (this.stopped) return;
    const { host, port, role } = this.target;
    const { tls } = this.options;
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_PARENT_HANDSHAKE_TIMEOUT_MS;
    const reads = tls ? undefined : new SlabReads();
    const socket = reads
      ? connectTcp({ host, port, onread: reads.onread })
      : connectTls({ ...tls, host, port });
    this.socket = socket;
    this.linked = false;
    let attached = false;
    let timedOut: string | undefined;
    // One retry per attempt, whichever of the deadline, a dial error or the link's end comes first.
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      this.linked = false;
      if (!this.stopped) this.events.lost();
      this.retry(reason);
    };
    const deadline = setTimeout(() => {
      timedOut = attached
        ? `the ${role} at ${this.address} took the connection but sent no READY within ${timeoutMs} ms ` +
          "(handshake timed out)"
        : `could not connect to the ${role} at ${this.address} within ${timeoutMs} ms ` +
          `(connect timed out${tls ? ", TLS handshake included" : ""})`;
      socket.destroy();
      // Before the wire is attached, no link exists whose end would schedule the retry.
      if (!attached) end(timedOut);
    }, timeoutMs);
    deadline.unref();
    this.deadline = deadline;
    socket.once(tls ? "secureConnect" : "connect", () => {
      attached = true;
      const onReady = (ready: ReadyBody) => {
        clearTimeout(deadline);
        if (!this.linked) {
          this.linked = true;
          this.attempt = 0;
          this.warned = undefined;
        }
        this.events.ready(ready);
      };
      void this.server
        .attachParent(new SocketWire(socket, reads), { onReady, dialed: { host, port } })
        .then(({ reason }) => end(timedOut ?? reason));
    });
    socket.once("error", (error) => {
      if (!attached) {
        socket.destroy();
        const code = (error as { code?: unknown }).code;
        end(typeof code === "string" ? `${error.message} (${code})` : error.message);
      }
    });
  }

  /** Schedules the next attempt; `reason` undefined for a first attempt that waits on purpose. */
  private retry(reason: string | undefined): void {
    if (this.stopped) return;
    const diagnosis = reason === undefined ? undefined : diagnose(reason);
    if (diagnosis && diagnosis.cause !== this.warned) {
      this.warned = diagnosis.cause;
      this.options.log?.("warn", `cannot link to the ${this.target.role}: ${diagnosis.cause}`, {
        [this.target.role]: this.address,
        reason,
        fix: diagnosis.fix,
      });
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff ?? DEFAULT_BACKOFF);
    this.options.log?.(
      "info",
      `${reason === undefined ? "connecting" : "reconnecting"} to ${this.target.role}`,
      {
        [this.target.role]: `${this.target.host}:${this.target.port}`,
        inMs: delay,
        ...(reason === undefined ? {} : { reason }),
      },
    );
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
