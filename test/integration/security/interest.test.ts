// Bounded interest across a tree of real node processes: a client's oversized DECLARE is refused at its
// own node with the limit named, and a subtree's legitimate interest larger than a frame crosses the link
// in pieces; either way the link stays up and a canary publisher/subscriber pair loses nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, inbox, type NodeProcess, sync, until } from "../../support/bus.js";

const fixture = new BusFixture();
let root: NodeProcess;
let middle: NodeProcess;
let leaf: NodeProcess;

beforeAll(async () => {
  await fixture.setup();
  // The root takes frames of 64 KiB at most: a subtree's interest easily outgrows one.
  root = await fixture.startNode("root", ["--max-frame", "65536", "--heartbeat", "1000"]);
  middle = await fixture.startNode("middle", ["--parent", root.url, "--heartbeat", "1000"]);
  leaf = await fixture.startNode("leaf", ["--parent", middle.url, "--heartbeat", "1000"]);
  await Promise.all([
    root.waitForLog(/child node linked node="middle"/),
    middle.waitForLog(/child node linked node="leaf"/),
  ]);
});

afterAll(() => fixture.teardown());

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);

/** A canary pair across the tree: publishes `count` messages from the root, counts them at the leaf. */
async function canary(during: () => Promise<void>, count = 200): Promise<number> {
  const subscriber = inbox(await fixture.client(leaf, { events: ["canary", "sync"] }));
  const publisher = await fixture.client(root, { events: [] });
  await sync(publisher, [subscriber]);
  let sent = 0;
  const publishing = (async () => {
    for (; sent < count; sent++) {
      publisher.publish("canary", String(sent));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  await during();
  await publishing;
  const seen = new Set<string>();
  const deadline = Date.now() + 10_000;
  while (seen.size < count && Date.now() < deadline) {
    try {
      seen.add((await subscriber.next(500)).text());
    } catch {
      // nothing within 500 ms: look at the deadline again
    }
  }
  return seen.size;
}

function linksStayedUp(): void {
  expect(leaf.stderr.join("\n")).not.toMatch(/parent link lost/);
  expect(middle.stderr.join("\n")).not.toMatch(/parent link lost|child node down/);
  expect(root.stderr.join("\n")).not.toMatch(/child node down/);
}

describe("bounded interest", () => {
  it("refuses a 1,000 × 1,000 DECLARE naming the limit; the canary across the tree loses nothing", async () => {
    const declaration = { events: names("event", 1000), tags: names("tag", 1000) };
    const delivered = await canary(async () => {
      await expect(fixture.client(leaf, declaration)).rejects.toMatchObject({
        code: "declaration_too_large",
        message: expect.stringMatching(/1000 events, over the limit of 256 per kind/),
      });
      // The same from a client that is already in, by re-declaring.
      const inside = await fixture.client(leaf, { events: ["x"], reconnect: false });
      await expect(inside.subscribe(declaration)).rejects.toBeDefined();
      await expect(inside.closed).resolves.toMatchObject({ code: "declaration_too_large" });
    });
    expect(delivered).toBe(200);
    linksStayedUp();
  }, 60_000);

  it("sends a subtree's interest larger than a frame in pieces: the link never flaps", async () => {
    // 30 events × (1 + 100 tags) = 3,030 keys, about 180 KB of INTEREST: within one client's limits,
    // three times the root's frame limit.
    const events = names("an-event-with-a-rather-long-name", 30);
    const tags = names("a-tag-with-a-rather-long-name", 100);
    const delivered = await canary(async () => {
      const wide = inbox(await fixture.client(leaf, { events, tags }));
      const publisher = await fixture.client(root, { events: [] });
      // The declaration goes up in pieces, a key that came in one piece (a sync event) proves nothing
      // of the others: published until the last event and tag have reached the root.
      const text = "to the last event and tag";
      await until(
        async () => {
          publisher.publish(events[29]!, text, { tag: tags[99]! });
          await new Promise((resolve) => setTimeout(resolve, 50));
          return wide.messages.some((message) => message.text() === text);
        },
        10_000,
        "an event to the last event and tag declared",
      );
      expect(wide.messages.every((message) => message.event === events[29])).toBe(true);
    });
    expect(delivered).toBe(200);
    linksStayedUp();
  }, 60_000);
});
