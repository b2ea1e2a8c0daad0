// Connections that never finish their handshake, against a real node process: they are closed at the
// handshake deadline whatever they send, refused a large frame before READY, counted in /healthz and
// /metrics, and one source address cannot hold more than its share while real clients still get in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { WebSocketConstructor } from "../../../src/bus/client/index.js";
import { encodeControl, FrameType } from "../../../src/bus/protocol/index.js";
import { BusFixture, type NodeProcess, until } from "../../support/bus.js";
import {
  metric,
  type RawConnection,
  rawConnection,
  rawWebSocket,
  residentKiB,
  webSocketHeader,
} from "./raw-connection.js";

const fixture = new BusFixture();
/** A short handshake deadline, so that the test waits seconds, not the default's. */
let deadlined: NodeProcess;
/** Generous connection limits: every socket gets in, and only the frame limit stops it. */
let roomy: NodeProcess;
/** Few connections per source address. */
let strict: NodeProcess;
const opened: RawConnection[] = [];

beforeAll(async () => {
  await fixture.setup();
  const http = ["--http", "127.0.0.1:0"];
  [deadlined, roomy, strict] = await Promise.all([
    fixture.startNode("deadlined", [
      ...http,
      ...["--handshake-timeout", "4000", "--max-handshakes-per-address", "100"],
    ]),
    fixture.startNode("roomy", [...http, "--max-handshakes", "1000", "--max-handshakes-per-address", "1000"]),
    fixture.startNode("strict", [...http, "--max-handshakes-per-address", "10"]),
  ]);
});

afterAll(async () => {
  for (const connection of opened) connection.destroy();
  await fixture.teardown();
});

function open(port: number, localAddress?: string): RawConnection {
  const connection = rawConnection(port, localAddress);
  opened.push(connection);
  return connection;
}

async function healthz(node: NodeProcess): Promise<{ pending: number; clients: number }> {
  return (await fetch(`http://127.0.0.1:${node.http}/healthz`)).json() as Promise<{
    pending: number;
    clients: number;
  }>;
}

describe("handshake deadline", () => {
  it("closes sockets that only PING, with handshake_timeout, and counts them as pending until then", async () => {
    const idle = Array.from({ length: 50 }, () => open(deadlined.port));
    const ping = encodeControl(FrameType.ping);
    const pinger = setInterval(() => {
      for (const connection of idle) connection.write(ping);
    }, 100);
    try {
      await until(async () => (await healthz(deadlined)).pending === 50, 5000, "50 pending connections");
      expect(await metric(deadlined.http, "treescale_bus_pending_connections")).toBe(50);
      expect((await healthz(deadlined)).clients).toBe(0);
      const started = Date.now();
      await Promise.all(idle.map((connection) => connection.closed));
      // The deadline is 4 s from each connect; PINGs every 100 ms bought them nothing.
      expect(Date.now() - started).toBeLessThan(12_000);
      expect(new Set(idle.map((connection) => connection.errorCode()))).toEqual(
        new Set(["handshake_timeout"]),
      );
    } finally {
      clearInterval(pinger);
    }
    expect((await healthz(deadlined)).pending).toBe(0);
    expect(await metric(deadlined.http, "treescale_bus_handshake_timeouts_total")).toBe(50);
    // A client that handshakes at once is not affected.
    const client = await fixture.client(deadlined, { events: ["x"] });
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(client.isReady).toBe(true);
  }, 30_000);
});

describe("frames before READY", () => {
  it("refuses near-max frames from unauthenticated sockets at their length prefix; memory stays flat", async () => {
    const before = await residentKiB(roomy.process.pid);
    // The peak, sampled while the frames stream in: what a node would need to survive the attack.
    let peak = before;
    const sampler = setInterval(() => {
      residentKiB(roomy.process.pid).then(
        (now) => {
          peak = Math.max(peak, now);
        },
        () => {},
      );
    }, 50);
    const maxFrame = 8 * 1024 * 1024;
    const body = Buffer.alloc(1024 * 1024, 0x61);
    const senders = Array.from({ length: 100 }, () => open(roomy.port));
    // Each claims a frame just under --max-frame and streams its body until the node hangs up.
    const streams = senders.map(async (connection) => {
      await new Promise((resolve) => connection.socket.once("connect", resolve));
      const prefix = Buffer.alloc(8);
      prefix.writeUInt32BE(maxFrame - 64, 0);
      prefix[4] = FrameType.connect;
      connection.write(prefix);
      // An attacker would go on; stopping at the ERROR keeps the test's own reads from racing its RST.
      const refused = () => connection.isClosed() || connection.errorCode() !== undefined;
      for (let sent = 0; sent < maxFrame - 64 && !refused(); sent += body.length) {
        if (!connection.socket.write(body)) {
          await Promise.race([
            new Promise((resolve) => connection.socket.once("drain", resolve)),
            connection.closed,
          ]);
        }
      }
      await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    });
    await Promise.all(streams);
    clearInterval(sampler);
    peak = Math.max(peak, await residentKiB(roomy.process.pid));
    // The bound is the handshake frame limit (32 KiB) per socket, plus read buffers; 100 × 8 MiB would
    // be 800 MiB.
    expect((peak - before) / 1024, `RSS ${before} KiB, peak ${peak} KiB`).toBeLessThan(64);
    expect(senders.every((connection) => connection.isClosed())).toBe(true);
    // Refused at the length prefix; on a loaded machine a socket slow to send its prefix may meet the
    // fixture's 100 ms heartbeat first: refused too, and holding nothing either.
    const codes = senders.map((connection) => connection.errorCode());
    expect(codes).toContain("frame_too_large");
    expect(codes.filter((code) => code !== "frame_too_large" && code !== "heartbeat_timeout")).toEqual([]);
    console.info(`RSS of the node: ${before} KiB before, peak ${peak} KiB during 100 near-max frames`);
  }, 60_000);
});

describe("WebSocket messages before READY", () => {
  it("cuts unauthenticated WebSockets sending near-max messages as they arrive; memory stays flat", async () => {
    const before = await residentKiB(roomy.process.pid);
    let peak = before;
    const sampler = setInterval(() => {
      residentKiB(roomy.process.pid).then(
        (now) => {
          peak = Math.max(peak, now);
        },
        () => {},
      );
    }, 50);
    const length = 8 * 1024 * 1024 - 64;
    const body = Buffer.alloc(1024 * 1024, 0x61);
    let cut = 0;
    // Each opens a WebSocket, claims a binary message just under --max-frame and streams it.
    const streams = Array.from({ length: 100 }, async () => {
      const { socket, closed } = await rawWebSocket(roomy.http!);
      let isClosed = false;
      void closed.then(() => {
        isClosed = true;
      });
      socket.write(webSocketHeader(length));
      for (let sent = 0; sent < length && !isClosed; sent += body.length) {
        if (!socket.write(body)) {
          await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), closed]);
        }
      }
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (isClosed) cut++;
      socket.destroy();
    });
    await Promise.all(streams);
    clearInterval(sampler);
    peak = Math.max(peak, await residentKiB(roomy.process.pid));
    // ws alone would gather each message whole before the node saw a byte: 100 × 8 MiB.
    expect((peak - before) / 1024, `RSS ${before} KiB, peak ${peak} KiB`).toBeLessThan(64);
    expect(cut).toBe(100);
    console.info(
      `RSS of the node: ${before} KiB before, peak ${peak} KiB during 100 near-max WebSocket messages`,
    );
    // A WebSocket client that has its READY is held to the full frame limit only.
    const subscriber = await fixture.client(roomy, { events: ["big"] });
    const publisher = await fixture.client(roomy, {
      url: `ws://127.0.0.1:${roomy.http}`,
      webSocket: WebSocket as unknown as WebSocketConstructor,
    });
    const big = "x".repeat(512 * 1024);
    const received = new Promise<string>((resolve) =>
      subscriber.onMessage((message) => resolve(message.text())),
    );
    publisher.publish("big", big);
    expect((await received).length).toBe(big.length);
  }, 60_000);
});

describe("connections per source address", () => {
  it("refuses unauthenticated sockets over the per-address limit; a client from elsewhere still gets READY", async () => {
    const ready = await fixture.client(strict, { events: ["still"] });
    const attackers = Array.from({ length: 15 }, () => open(strict.port, "127.0.0.2"));
    await until(
      () => attackers.filter((connection) => connection.isClosed()).length === 5,
      5000,
      "5 refusals",
    );
    expect(attackers.filter((connection) => connection.errorCode() === "too_many_connections")).toHaveLength(
      5,
    );
    expect((await healthz(strict)).pending).toBe(10);
    expect(await metric(strict.http, "treescale_bus_connections_refused_total")).toBe(5);
    // Another address (the test's own, 127.0.0.1) handshakes as usual, and clients already in stay in.
    const newcomer = await fixture.client(strict, { events: ["still"] });
    expect(newcomer.isReady).toBe(true);
    expect(ready.isReady).toBe(true);
  });
});
