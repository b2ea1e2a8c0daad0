// Bus nodes and clients in the test's own process, joined by in-memory socket pairs: the real BusServer,
// SocketWire, BusClient and socket transport, without a port or a child process. `teardown` ends them all.
import { BusClient, type ClientOptions } from "../../src/bus/client/index.js";
import { socketTransport } from "../../src/bus/client/tcp-transport.js";
import {
  decodeControl,
  encodeControl,
  FrameParser,
  FrameType,
  frameType,
  PROTOCOL_VERSION,
} from "../../src/bus/protocol/index.js";
import {
  BusServer,
  type BusServerOptions,
  createAuthenticator,
  type LogLevel,
  SocketWire,
} from "../../src/bus/server/index.js";
import { duplexPair, type MemorySocket, type Split } from "./duplex-pair.js";

export const TOKEN = "good-token";
export const CLUSTER_SECRET = new TextEncoder().encode("cluster-secret-for-tests");

export interface LogLine {
  node: string;
  level: LogLevel;
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** Frames one raw connection received, in order, and a way to wait for the next. */
export interface RawConnection {
  socket: MemorySocket;
  frames: Uint8Array[];
  /** Writes bytes as they are (they may hold several frames, or part of one). */
  write(bytes: Uint8Array): void;
  /** Resolves with the next frame received that is not a PING. */
  next(timeoutMs?: number): Promise<Uint8Array>;
  /** Resolves when the node has closed the connection. */
  closed: Promise<void>;
}

export class MemoryBus {
  readonly servers: BusServer[] = [];
  readonly clients: BusClient[] = [];
  readonly sockets: MemorySocket[] = [];
  readonly logs: LogLine[] = [];

  /** A started node accepting TOKEN and holding CLUSTER_SECRET. */
  node(name: string, options: Partial<BusServerOptions> = {}): BusServer {
    const server = new BusServer({
      name,
      auth: createAuthenticator({ node: name, tokens: new Set([TOKEN]) }),
      clusterSecret: CLUSTER_SECRET,
      log: (level, message, fields) => this.logs.push({ node: name, level, message, fields }),
      ...options,
    });
    server.start();
    this.servers.push(server);
    return server;
  }

  /** A new connection to `server`, as if accepted by its listener; returns the other end. */
  connect(server: BusServer, split?: { toNode?: Split; fromNode?: Split }): MemorySocket {
    const [outside, inside] = duplexPair();
    outside.split = split?.toNode;
    inside.split = split?.fromNode;
    this.sockets.push(outside, inside);
    server.accept(new SocketWire(inside));
    return outside;
  }

  /** A client of `server` with TOKEN; each (re)connect opens a new in-memory connection. */
  async client(
    server: BusServer,
    options: Partial<ClientOptions> = {},
    split?: { toNode?: Split; fromNode?: Split },
  ): Promise<BusClient> {
    const client = await BusClient.connect({
      url: `memory://${server.name}`,
      token: TOKEN,
      reconnect: false,
      transport: async () => socketTransport(this.connect(server, split)),
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  /**
   * Joins `child` under `parent` over a new connection; resolves once the link is ready, with a function
   * that cuts it (both ends see the connection drop, as when a process dies).
   */
  link(parent: BusServer, child: BusServer): Promise<() => void> {
    const [up, down] = duplexPair();
    this.sockets.push(up, down);
    parent.accept(new SocketWire(down));
    const cut = () => {
      up.destroy();
      down.destroy();
    };
    return new Promise((resolve, reject) => {
      void child
        .attachParent(new SocketWire(up), { onReady: () => resolve(cut) })
        .then(({ ready, reason }) => {
          if (!ready) reject(new Error(`${child.name} could not join ${parent.name}: ${reason}`));
        });
    });
  }

  /** A connection the test speaks frame by frame. */
  raw(server: BusServer): RawConnection {
    const socket = this.connect(server);
    const frames: Uint8Array[] = [];
    const waiters: ((frame: Uint8Array) => void)[] = [];
    let read = 0;
    const parser = new FrameParser({
      maxFrameBytes: 1 << 24,
      onFrame: (frame) => {
        if (frameType(frame) === FrameType.ping) return;
        const copy = frame.slice();
        frames.push(copy);
        const waiter = waiters.shift();
        if (waiter) {
          read++;
          waiter(copy);
        }
      },
    });
    socket.on("data", (chunk: Buffer) => parser.push(chunk));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    return {
      socket,
      frames,
      closed,
      write: (bytes) => {
        socket.write(bytes);
      },
      next: (timeoutMs = 2000) => {
        const ready = frames[read];
        if (ready) {
          read++;
          return Promise.resolve(ready);
        }
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
          waiters.push((frame) => {
            clearTimeout(timer);
            resolve(frame);
          });
        });
      },
    };
  }

  async teardown(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close().catch(() => {})));
    for (const server of this.servers) server.stop();
    for (const socket of this.sockets) socket.destroy();
  }
}

/** CONNECT (with `token`) and DECLARE, as a client's first bytes. */
export function hello(token: string | undefined, events: string[] = [], tags: string[] = []): Uint8Array {
  const connect = encodeControl(FrameType.connect, {
    protocol: PROTOCOL_VERSION,
    kind: "client",
    ...(token === undefined ? {} : { token }),
  });
  const declare = encodeControl(FrameType.declare, { events, tags, groups: [], channels: [] });
  return Buffer.concat([connect, declare]);
}

/** The JSON body of a control frame, typed for the test's assertions. */
export function bodyOf<T>(frame: Uint8Array): T {
  return decodeControl(frame) as T;
}
