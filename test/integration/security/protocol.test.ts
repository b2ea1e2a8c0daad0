// The node keeps the promises docs/PROTOCOL.md makes, against a real node process: a slow consumer is
// told why before it is closed, a CONNECT of another protocol version is refused by name, names in
// routing headers follow DECLARE's rules, and control frames carry no header.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeControl, encodeRouted, FrameType, PROTOCOL_VERSION } from "../../../src/bus/protocol/index.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { clientHello, type RawConnection, rawConnection } from "./raw-connection.js";

const fixture = new BusFixture();
let node: NodeProcess;
const opened: RawConnection[] = [];

beforeAll(async () => {
  await fixture.setup();
  node = await fixture.startNode("protocol", ["--max-pending", String(1024 * 1024), "--heartbeat", "1000"]);
});

afterAll(async () => {
  for (const connection of opened) connection.destroy();
  await fixture.teardown();
});

async function ready(events: string[] = []): Promise<RawConnection> {
  const connection = rawConnection(node.port);
  opened.push(connection);
  connection.write(clientHello("good-token", { events }));
  await connection.frame(FrameType.ready);
  return connection;
}

describe("PING and PONG", () => {
  it("a ready client's PING is answered with PONG after what came before it; before READY it is not answered", async () => {
    const early = rawConnection(node.port);
    opened.push(early);
    early.write(encodeControl(FrameType.ping));
    const subscriber = await ready(["barrier"]);
    const publisher = await ready();
    // One write: a PUBLISH then a PING; the PONG comes once the node routed the PUBLISH. (That a refused
    // frame's ERROR comes instead of the PONG is shown through the CLI in authorization.test.ts.)
    publisher.write(
      Buffer.concat([
        encodeRouted(FrameType.publish, { event: "barrier", origin: node.name }, new Uint8Array([1])),
        encodeControl(FrameType.ping),
      ]),
    );
    await publisher.frame(FrameType.pong);
    await subscriber.frame(FrameType.publish, 2000);
    early.write(clientHello("good-token"));
    await early.frame(FrameType.ready);
    expect(early.frames.some((frame) => frame[4] === FrameType.pong)).toBe(false);
  });
});

describe("slow consumers", () => {
  it("a consumer that stops reading for 3 s reads ERROR slow_consumer before the close", async () => {
    const consumer = await ready(["flood"]);
    consumer.socket.pause();
    const pinger = setInterval(() => consumer.write(encodeControl(FrameType.ping)), 200);
    const publisher = await fixture.client(node, { events: [] });
    const payload = new Uint8Array(64 * 1024);
    try {
      // 64 MiB offered against a 1 MiB output limit.
      for (let i = 0; i < 1024; i++) {
        publisher.publish("flood", payload);
        if (i % 64 === 63) await publisher.flush();
      }
      await publisher.flush();
      await new Promise((resolve) => setTimeout(resolve, 3000));
    } finally {
      clearInterval(pinger);
    }
    consumer.socket.resume();
    await consumer.closed;
    expect(consumer.errorCode()).toBe("slow_consumer");
  }, 30_000);
});

describe("handshake rules", () => {
  it("refuses a CONNECT of another protocol version with unsupported_protocol", async () => {
    const connection = rawConnection(node.port);
    opened.push(connection);
    connection.write(
      encodeControl(FrameType.connect, {
        protocol: PROTOCOL_VERSION + 1,
        kind: "client",
        token: "good-token",
      }),
    );
    await connection.closed;
    expect(connection.errorCode()).toBe("unsupported_protocol");
  });

  it("refuses a control frame that carries a routing header", async () => {
    const connection = rawConnection(node.port);
    opened.push(connection);
    const connect = Buffer.from(
      encodeControl(FrameType.connect, { protocol: PROTOCOL_VERSION, kind: "client", token: "good-token" }),
    );
    // hlen 2, then two bytes of "header" before the JSON.
    const framed = Buffer.concat([connect.subarray(0, 8), Buffer.from("  "), connect.subarray(8)]);
    framed.writeUInt32BE(framed.length - 4, 0);
    framed.writeUInt16BE(2, 6);
    connection.write(framed);
    await connection.closed;
    expect(connection.errorCode()).toBe("protocol_error");
  });
});

describe("names in routing headers", () => {
  it("refuses a PUBLISH whose names hold a NUL or whitespace, as DECLARE would", async () => {
    for (const header of [{ event: "bad\u0000event" }, { event: "ok", tag: "two words" }]) {
      const publisher = await ready();
      publisher.write(encodeRouted(FrameType.publish, { origin: "protocol", ...header }, new Uint8Array(0)));
      await publisher.closed;
      expect(publisher.errorCode()).toBe("protocol_error");
    }
  });
});
