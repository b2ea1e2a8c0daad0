// Deadlines on the bus's outward calls, against real loopback listeners in this process: a server that
// takes connections and never says a word, and one that answers the handshake but no later DECLARE. The
// client must fail with a typed timeout naming address and phase; a node's parent link must retry.
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  BusClient,
  BusTimeoutError,
  type Transport,
  type WebSocketConstructor,
} from "../../../src/bus/client/index.js";
import { encodeControl, FrameType } from "../../../src/bus/protocol/index.js";
import { BusServer, ParentLink, SocketWire } from "../../../src/bus/server/index.js";
import { until } from "../../support/bus.js";
import { CLUSTER_SECRET } from "../../support/memory-bus.js";

interface Listener {
  server: Server;
  port: number;
  /** Connections taken so far. */
  sockets: Socket[];
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Listens on 127.0.0.1, port 0; `onConnection` decides what the server says (by default nothing). */
async function listen(onConnection: (socket: Socket) => void = () => {}): Promise<Listener> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    // Read (and drop) what arrives, so that the peer's hang-up shows as the end of the stream.
    socket.resume();
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port: (server.address() as { port: number }).port, sockets };
}

/** Runs `attempt` and returns how it rejected and after how long. */
async function failure(attempt: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = Date.now();
  try {
    await attempt();
  } catch (error) {
    return { error, elapsedMs: Date.now() - started };
  }
  throw new Error("expected a failure");
}

describe("client deadlines", () => {
  it("fails with HANDSHAKE_TIMEOUT when the node takes the TCP connection and never answers", async () => {
    const silent = await listen();
    const url = `127.0.0.1:${silent.port}`;
    const { error, elapsedMs } = await failure(() =>
      BusClient.connect({ url, token: "t", handshakeTimeoutMs: 300 }),
    );
    expect(error).toBeInstanceOf(BusTimeoutError);
    expect(error).toMatchObject({
      name: "BusTimeoutError",
      code: "HANDSHAKE_TIMEOUT",
      phase: "handshake",
      address: url,
      timeoutMs: 300,
    });
    expect((error as Error).message).toContain(`the node at ${url}`);
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(2000);
    // The client hangs up on the silent node rather than leaving the connection open.
    await until(() => silent.sockets[0]?.readableEnded === true, 3000, "the client to hang up");
  });

  it("fails with CONNECT_TIMEOUT when a TLS dial never completes its handshake", async () => {
    const silent = await listen();
    const url = `tls://127.0.0.1:${silent.port}`;
    const { error, elapsedMs } = await failure(() => BusClient.connect({ url, connectTimeoutMs: 300 }));
    expect(error).toMatchObject({ code: "CONNECT_TIMEOUT", phase: "connect", address: url });
    expect((error as Error).message).toContain(url);
    expect(elapsedMs).toBeLessThan(2000);
    await until(() => silent.sockets[0]?.readableEnded === true, 3000, "the client to hang up");
  });

  it("fails with CONNECT_TIMEOUT when a WebSocket upgrade is never answered", async () => {
    const silent = await listen();
    const url = `ws://127.0.0.1:${silent.port}/`;
    const { error, elapsedMs } = await failure(() =>
      BusClient.connect({
        url,
        webSocket: WebSocket as unknown as WebSocketConstructor,
        connectTimeoutMs: 300,
      }),
    );
    expect(error).toMatchObject({ code: "CONNECT_TIMEOUT", phase: "connect", address: url });
    expect(elapsedMs).toBeLessThan(2000);
  });

  it("aborts a custom transport's dial at the deadline, and closes a transport that opens too late", async () => {
    let aborted: unknown;
    let lateClosed = false;
    let open: ((transport: Transport) => void) | undefined;
    const { error } = await failure(() =>
      BusClient.connect({
        url: "custom://somewhere",
        connectTimeoutMs: 100,
        transport: (signal) =>
          new Promise((resolve) => {
            signal?.addEventListener("abort", () => {
              aborted = signal.reason;
            });
            open = resolve;
          }),
      }),
    );
    expect(error).toMatchObject({ code: "CONNECT_TIMEOUT", address: "custom://somewhere" });
    expect(aborted).toBe(error);
    open?.({
      send: () => {},
      bufferedBytes: () => 0,
      drained: () => Promise.resolve(),
      close: () => {
        lateClosed = true;
      },
      onData: () => {},
      onClose: () => {},
    });
    await until(() => lateClosed, 1000, "the late transport to be closed");
  });

  it("fails subscribe() with SUBSCRIBE_TIMEOUT when the node never confirms a new declaration", async () => {
    // Answers the first bytes (CONNECT and DECLARE) with READY, and nothing after.
    const forgetful = await listen((socket) =>
      socket.once("data", () =>
        socket.write(
          encodeControl(FrameType.ready, {
            node: "forgetful",
            connection: 1,
            heartbeatMs: 60_000,
            maxFrameBytes: 1 << 20,
          }),
        ),
      ),
    );
    const url = `127.0.0.1:${forgetful.port}`;
    const client = await BusClient.connect({ url, reconnect: false, subscribeTimeoutMs: 200 });
    cleanups.push(() => client.close());
    const { error, elapsedMs } = await failure(() => client.subscribe({ events: ["more"] }));
    expect(error).toMatchObject({ code: "SUBSCRIBE_TIMEOUT", phase: "subscribe", address: url });
    expect(elapsedMs).toBeLessThan(2000);
    // Without reconnect, the unconfirmed connection ends the client, with that reason.
    await expect(client.closed).resolves.toMatchObject({ code: "SUBSCRIBE_TIMEOUT" });
  });
});

interface LogLine {
  message: string;
  fields?: Record<string, unknown>;
}

describe("parent link deadline", () => {
  function childNode(): { node: BusServer; logs: LogLine[] } {
    const logs: LogLine[] = [];
    const node = new BusServer({
      name: "child",
      auth: { check: async () => ({ ok: true }) },
      clusterSecret: CLUSTER_SECRET,
      // Heartbeats would also end a silent link; a long one leaves the deadline alone to do it.
      heartbeatMs: 60_000,
      log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }),
    });
    node.start();
    cleanups.push(() => node.stop());
    return { node, logs };
  }

  it("treats a parent that takes the connection and stays silent as a failed attempt, and retries", async () => {
    const silent = await listen();
    const { node, logs } = childNode();
    const link = new ParentLink(node, {
      host: "127.0.0.1",
      port: silent.port,
      handshakeTimeoutMs: 200,
      backoff: { initialMs: 10, maxMs: 20 },
      log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }),
    });
    cleanups.push(() => link.stop());
    const started = Date.now();
    link.start();
    await until(() => silent.sockets.length >= 3, 3000, "three attempts");
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * 200);
    const retries = logs.filter((line) => line.message === "reconnecting to parent");
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]!.fields?.reason).toBe(
      `the parent at tcp://127.0.0.1:${silent.port} took the connection but sent no READY within 200 ms (handshake timed out)`,
    );
    // Each abandoned attempt is hung up, not left open beside the next.
    await until(() => silent.sockets.slice(0, 2).every((socket) => socket.readableEnded || socket.destroyed));
    expect(node.parentConnected).toBe(false);
  });

  it("gives a TLS dial that never completes the same deadline", async () => {
    const silent = await listen();
    const { node, logs } = childNode();
    const link = new ParentLink(node, {
      host: "127.0.0.1",
      port: silent.port,
      tls: {},
      handshakeTimeoutMs: 200,
      backoff: { initialMs: 10, maxMs: 20 },
      log: (_level, message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }),
    });
    cleanups.push(() => link.stop());
    link.start();
    await until(() => silent.sockets.length >= 2, 3000, "a second attempt");
    const retry = logs.find((line) => line.message === "reconnecting to parent");
    expect(retry?.fields?.reason).toMatch(
      /could not connect to the parent at tls:\/\/127\.0\.0\.1:\d+ within 200 ms/,
    );
  });

  it("leaves a link that became ready within the deadline alone", async () => {
    const parent = new BusServer({
      name: "parent",
      auth: { check: async () => ({ ok: true }) },
      clusterSecret: CLUSTER_SECRET,
    });
    parent.start();
    cleanups.push(() => parent.stop());
    const listener = await listen((socket) => parent.accept(new SocketWire(socket)));
    const { node } = childNode();
    const link = new ParentLink(node, { host: "127.0.0.1", port: listener.port, handshakeTimeoutMs: 150 });
    cleanups.push(() => link.stop());
    link.start();
    await until(() => node.parentConnected, 3000, "the link");
    // Nothing announces that a timer did not fire: wait out twice the deadline, then look.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(node.parentConnected).toBe(true);
    expect(listener.sockets).toHaveLength(1);
  });
});
