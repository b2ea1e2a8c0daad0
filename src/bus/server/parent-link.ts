// Keeps a node joined to its parent: dial, handshake, and on loss reconnect with capped, jittered backoff.
// The interest of this node's whole subtree is re-advertised on every new link by the server.
import { connect as connectTcp, type Socket } from "node:net";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "../backoff.js";
import type { BusServer } from "./bus-server.js";
import type { Logger } from "./log.js";
import { SocketWire } from "./wire.js";

export interface ParentLinkOptions {
  host: string;
  port: number;
  /** TLS options when the parent listens with TLS. */
  tls?: ConnectionOptions | undefined;
  backoff?: BackoffOptions;
  log?: Logger;
}

export class ParentLink {
  private stopped = false;
  private socket: Socket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
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
    this.socket?.destroy();
  }

  private dial(): void {
    if (this.stopped) return;
    const { host, port, tls } = this.options;
    const socket = tls ? connectTls({ ...tls, host, port }) : connectTcp({ host, port });
    this.socket = socket;
    let attached = false;
    const onConnected = () => {
      attached = true;
      void this.server.attachParent(new SocketWire(socket)).then(({ ready, reason }) => {
        if (ready) this.attempt = 0;
        this.retry(reason);
      });
    };
    socket.once(tls ? "secureConnect" : "connect", onConnected);
    socket.once("error", (error) => {
      if (!attached) {
        socket.destroy();
        const code = (error as { code?: unknown }).code;
        this.retry(typeof code === "string" ? `${error.message} (${code})` : error.message);
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
