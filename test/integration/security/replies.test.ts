// Replies cannot be forged, against a real node process: a client that learned a request's id, requester
// and origin (here from a colluding responder) still cannot answer it, nor fake "no responders", because
// the node takes a REPLY only from a connection the request was delivered to.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeControl,
  decodeRoute,
  encodeRouted,
  FrameFlag,
  FrameType,
  PublishFlag,
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

  it("a subscriber cannot inflate a counted PUBLISH with a forged delivery report; the count is the node's", async () => {
    const publisher = await fixture.client(node, { events: [] });
    const subscriber = await rawClient(["counted"]);
    const refusedBefore = await metric(node.http, "treescale_bus_replies_refused_total");
    const count = await publisher.publishCounted("counted", "x", {}, { timeoutMs: 5000 });
    expect(count).toMatchObject({ subscribers: 1, exact: true, unreported: [] });
    expect(count.reports.map((report) => report.node)).toEqual(["replies"]);
    // The node's own report settled the count at once; a forged one is refused by the node, not merely late.
    const publish = decodeRoute(await subscriber.frame(FrameType.publish));
    const forged = { node: "ghost", subscribers: 50, forwardedTo: [] };
    subscriber.write(reply(publish, JSON.stringify(forged), FrameFlag.deliveryReport));
    await settle();
    expect(await metric(node.http, "treescale_bus_replies_refused_total")).toBe(refusedBefore + 1);
  });

  it("refuses a counted PUBLISH whose replyTo is not the publisher's own connection", async () => {
    const victim = await rawClient([]);
    const { connection } = decodeControl(await victim.frame(FrameType.ready)) as { connection: number };
    const publisher = await rawClient([]);
    publisher.write(
      encodeRouted(
        FrameType.publish,
        { id: 7, event: "counted", origin: "replies", replyTo: String(connection) },
        new Uint8Array(0),
        PublishFlag.count,
      ),
    );
    await publisher.closed;
    expect(publisher.errorCode()).toBe("protocol_error");
    victim.destroy();
  });
});
