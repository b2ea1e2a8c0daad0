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
        if (ready) this.attempt = 0;
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
