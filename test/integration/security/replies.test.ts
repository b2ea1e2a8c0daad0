// Replies cannot be forged, against a real node process: a client that learned a request's id, requester
// and origin (here from a colluding responder) still cannot answer it, nor fake "no responders", because
// the node takes a REPLY only from a connection the request was delivered to.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeRoute,
  encodeRouted,
  FrameFlag,
  FrameType,
  type RouteHeader,
} from "../../../src/bus/protocol/index.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { clientHello, metric, type RawConnection, rawConnection } from "./raw-connection.js";

const fixture = new BusFixture();
let node: NodeProcess;
const opened: RawConnection[] = [];

beforeAll(async () => {
  await fixture.setup();
  // Heartbeats of 1 s: the raw connections send no PINGs, and must outlive a test's few hundred ms.
  node = await fixture.startNode("replies", ["--http", "127.0.0.1:0", "--heartbeat", "1000"]);
});

afterAll(async () => {
  for (const connection of opened) connection.destroy();
  await fixture.teardown();
});

/** A raw client, ready, declaring `events`. */
async function rawClient(events: string[]): Promise<RawConnection> {
  const connection = rawConnection(node.port);
  opened.push(connection);
  connection.write(clientHello("good-token", { events }));
  await connection.frame(FrameType.ready);
  return connection;
}

function reply(request: RouteHeader, payload: string, flags = 0): Uint8Array {
  return encodeRouted(
    FrameType.reply,
    {
      id: request.id,
      event: request.event,
      origin: "replies",
      node: request.origin,
      replyTo: request.replyTo,
    },
    Buffer.from(payload),
    flags,
  );
}

/** Lets the node read what was just written on another connection before the next step. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe("unforgeable replies", () => {
  it("refuses a REPLY from a client the request was not delivered to; the requester gets the real one", async () => {
    const requester = await fixture.client(node, { events: [] });
    const responder = await rawClient(["svc"]);
    const forger = await rawClient([]);
    const answer = requester.request("svc", {}, "question", 5000);
    const request = decodeRoute(await responder.frame(FrameType.request));
    forger.write(reply(request, "forged"));
    await settle();
    responder.write(reply(request, "real"));
    expect((await answer).text()).toBe("real");
    expect(await metric(node.http, "treescale_bus_replies_refused_total")).toBeGreaterThanOrEqual(1);
  });

  it("refuses a forged no-responders REPLY", async () => {
    const requester = await fixture.client(node, { events: [] });
    const responder = await rawClient(["svc.two"]);
    const forger = await rawClient([]);
    const answer = requester.request("svc.two", {}, "question", 5000);
    const request = decodeRoute(await responder.frame(FrameType.request));
    forger.write(reply(request, "", FrameFlag.noResponders));
    await settle();
    responder.write(reply(request, "real"));
    expect((await answer).text()).toBe("real");
  });

  it("still answers no responders itself when nothing subscribes", async () => {
    const requester = await fixture.client(node, { events: [] });
    await expect(requester.request("nobody.home", {}, "question", 5000)).rejects.toMatchObject({
      code: "no_responders",
    });
  });
});
