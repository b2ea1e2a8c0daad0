// The node daemon as a class: the bus listener (TCP or TLS), the HTTP port, and the link to the parent.
// `treescale node` only maps flags onto TreeNodeOptions; tests and the agent use it in-process.

import type { Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { BackoffOptions } from "../bus/backoff.js";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/index.js";
import {
  type BusLimits,
  BusServer,
  createAuthenticator,
  type Logger,
  ParentLink,
  SocketWire,
  type TokenAuthenticator,
  type TokenTable,
} from "../bus/server/index.js";
import { InternalError } from "../errors.js";
import { formatHostPort, type HostPort } from "./address.js";
import type { DashboardFiles } from "./dashboard.js";
import { createHttpFrontend } from "./http.js";
import { RESERVED_EVENTS } from "./reserved-events.js";

export interface TlsFiles {
  /** PEM contents, not paths. */
  cert: string;
  key: string;
  /** With a CA, child nodes must present a certificate it signed, and the parent is verified against it. */
  ca?: string | undefined;
}

export interface TreeNodeOptions {
  name: string;
  listen?: HostPort;
  http?: HostPort | undefined;
  parent?: HostPort | undefined;
  /** Dial the parent over TLS (implied when tls.ca is set). */
  parentTls?: boolean;
  tags?: string[];
  /** Client tokens and what each may do (a set: each may do everything). */
  tokens?: ReadonlySet<string> | TokenTable | undefined;
  authHook?: string | undefined;
  authHookTimeoutMs?: number;
  clusterSecret?: Uint8Array | undefined;
  tls?: TlsFiles | undefined;
  heartbeatMs?: number;
  maxFrameBytes?: number;
  maxPendingBytes?: number;
  /** Handshake and declaration bounds (defaults in src/bus/server/limits.ts). */
  limits?: Partial<BusLimits>;
  /** Origins whose pages may open a WebSocket on the HTTP port, besides the node's own ("*": any). */
  allowOrigins?: readonly string[];
  /** The dashboard page the HTTP port serves at `/`. */
  dashboard?: DashboardFiles | undefined;
  backoff?: BackoffOptions;
  log?: Logger;
}

export class TreeNode {
  readonly bus: BusServer;
  private listener: Server | undefined;
  private httpServer: HttpServer | undefined;
  private parentLink: ParentLink | undefined;
  private readonly sockets = new Set<Socket>();
  private listenAddress: HostPort | undefined;
  private started = false;
  private httpAddress: HostPort | undefined;
  private readonly auth: TokenAuthenticator;

  constructor(private readonly options: TreeNodeOptions) {
    this.auth = createAuthenticator({
      node: options.name,
      tokens: options.tokens,
      hookUrl: options.authHook,
      hookTimeoutMs: options.authHookTimeoutMs,
    });
    this.bus = new BusServer({
      name: options.name,
      tags: options.tags ?? [],
      auth: this.auth,
      clusterSecret: options.clusterSecret,
      reservedEvents: RESERVED_EVENTS,
      requireNodeCertificate: options.tls?.ca !== undefined,
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}),
      ...(options.maxPendingBytes !== undefined ? { maxPendingBytes: options.maxPendingBytes } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  }

  get name(): string {
    return this.bus.name;
  }

  /**
   * Takes a reloaded token file: new tokens are accepted from now on, and the clients admitted with a token
   * that is gone (or whose permissions changed) are closed with ERROR token_revoked. Returns how many.
   */
  replaceTokens(tokens: TokenTable, file: string): number {
    const revoked = this.auth.replaceTokens(tokens);
    if (revoked.size === 0) return 0;
    return this.bus.revoke(
      revoked,
      `the token this connection was admitted with was removed from (or changed in) the node's token file ${file}; reconnect with a current token`,
    );
  }

  /** The bound bus address (port resolved when 0 was asked for). */
  get address(): HostPort {
    if (!this.listenAddress) throw new InternalError(`node ${this.name} is not started`);
    return this.listenAddress;
  }

  get httpListenAddress(): HostPort | undefined {
    return this.httpAddress;
  }

  async start(): Promise<void> {
    const { tls } = this.options;
    const onSocket = (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => {});
      this.bus.accept(new SocketWire(socket));
    };
    this.listener = tls
      ? createTlsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}),
          },
          onSocket,
        )
          // The address is read while the connection is open: a failed handshake's socket has lost it.
          .on("connection", (raw: Socket) => raw.remoteAddress)
          .on("tlsClientError", (error, socket) => this.tlsRefused(error, socket))
      : createTcpServer(onSocket);
    this.listenAddress = await listen(this.listener, this.options.listen ?? { host: "127.0.0.1", port: 0 });
    if (this.options.http) {
      this.httpServer = createHttpFrontend(this.bus, {
        tls: tls ? { cert: tls.cert, key: tls.key } : undefined,
        allowOrigins: this.options.allowOrigins,
        log: this.options.log,
        problems: () => this.problems(),
        metrics: (signal) => this.metrics(signal),
        dashboard: this.options.dashboard,
      });
      this.httpAddress = await listen(this.httpServer, this.options.http);
    }
    this.bus.start();
    this.started = true;
    this.dialParent();
  }

  /**
   * A TLS handshake on the bus listener failed: most often a child that does not trust this node's
   * certificate (or the reverse), which the child alone would otherwise know about.
   */
  private tlsRefused(error: Error & { code?: string }, socket: TLSSocket): void {
    // Node keeps the TCP socket under a TLS one as `_parent`, and nowhere public.
    const raw = (socket as TLSSocket & { _parent?: Socket })._parent ?? socket;
    const reason = error.code ? `${error.message} (${error.code})` : error.message;
    this.options.log?.("warn", "TLS handshake refused", {
      remote: `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? 0}`,
      reason:
        error.code === "ECONNRESET"
          ? `${reason}: the peer hung up mid-handshake; most often it does not trust this node's certificate (check its --tls-ca)`
          : reason,
    });
  }

  /** What keeps this node from its work, for /healthz; set by whoever runs on it (the agent). */
  problems: () => string[] = () => [];

  /** Metric families besides the bus's, for /metrics; set by whoever runs on it (the agent, its containers). */
  metrics: (signal: AbortSignal) => Promise<string> = async () => "";

  /** Where the parent reaches this node: the local address of the link to it (undefined on a root). */
  get linkAddress(): string | undefined {
    return this.parentLink?.localAddress;
  }

  get parentName(): string | undefined {
    return this.bus.parentName;
  }

  /** Moves this node under another parent (or detaches it with undefined); the subtree follows. */
  setParent(parent: HostPort | undefined): void {
    const current = this.options.parent;
    if (current && parent && current.host === parent.host && current.port === parent.port) return;
    this.options.parent = parent;
    this.parentLink?.stop();
    this.parentLink = undefined;
    this.bus.dropParent("re-parented");
    if (this.started) this.dialParent();
  }

  private dialParent(): void {
    const { tls } = this.options;
    if (this.options.parent) {
      const useTls = this.options.parentTls || tls?.ca !== undefined;
      this.parentLink = new ParentLink(this.bus, {
        ...this.options.parent,
        tls: useTls ? { ca: tls?.ca, cert: tls?.cert, key: tls?.key, servername: undefined } : undefined,
        ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
        ...(this.options.log ? { log: this.options.log } : {}),
      });
      this.parentLink.start();
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    this.parentLink?.stop();
    this.bus.stop();
    const closing: Promise<void>[] = [];
    if (this.listener) closing.push(close(this.listener));
    if (this.httpServer) {
      this.httpServer.closeAllConnections();
      closing.push(close(this.httpServer));
    }
    // Give error frames a moment to leave, then cut what is left.
    setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, 50).unref();
    await Promise.all(closing);
  }

  describe(): { name: string; listen: string; http?: string } {
    return {
      name: this.name,
      listen: formatHostPort(this.address),
      ...(this.httpAddress ? { http: formatHostPort(this.httpAddress) } : {}),
    };
  }

  interested(event: string): boolean {
    return this.bus.interested(event);
  }

  watchInterest(event: string, listener: (interested: boolean) => void): () => void {
    return this.bus.watchInterest(event, listener);
  }

  publish(event: string, payload?: Payload, target: Target = {}): void {
    this.bus.publish(event, payload, target);
  }

  subscribe(
    event: string,
    handler: (message: Message) => void,
    membership?: { tags?: string[]; groups?: string[]; channels?: string[] },
  ): () => void {
    return this.bus.subscribe(event, handler, membership);
  }

  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    return this.bus.handle(event, handler);
  }

  request(event: string, target: Target, payload?: Payload, timeoutMs?: number): Promise<Message> {
    return this.bus.request(event, target, payload, timeoutMs);
  }

  requestMany(
    event: string,
    target: Target,
    payload?: Payload,
    timeoutMs?: number,
    max?: number,
  ): Promise<Message[]> {
    return this.bus.requestMany(event, target, payload, timeoutMs, max);
  }
}

function listen(server: Server | HttpServer, at: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      const bound = server.address();
      resolve(typeof bound === "object" && bound ? { host: at.host, port: bound.port } : at);
    });
  });
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
