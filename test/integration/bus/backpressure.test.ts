// A publisher flooding faster than a child link drains is slowed down, not dropped: the parent stops
// reading it while the link is congested, and neither the publisher nor the link is cut off.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, inbox, type NodeProcess, sync } from "../../support/bus.js";

const fixture = new BusFixture();
let parent: NodeProcess;
let child: NodeProcess;

beforeAll(async () => {
  await fixture.setup();
  // 1 MiB of output per connection: far less than what the flood offers.
  // Heartbeats of 1 s: the child is stopped for 800 ms below and must not count as down.
  const slowBeat = ["--heartbeat", "1000"];
  parent = await fixture.startNode("bp-parent", [...slowBeat, "--max-pending", String(1024 * 1024)]);
  child = await fixture.startNode("bp-child", [
    ...slowBeat,
    // The subscriber shares a (possibly loaded) test process with the publisher: the child may buffer the
    // whole flood for it, so only the parent's link can be the bottleneck under test.
    "--max-pending",
    String(512 * 1024 * 1024),
    "--parent",
    parent.url,
  ]);
});

afterAll(() => fixture.teardown());

describe("bus back-pressure", () => {
  it("a flood through a congested child link arrives whole; publisher and link stay connected", async () => {
    const watcher = inbox(await fixture.client(parent, { events: ["node.down"] }));
    const subscriber = await fixture.client(child, { events: ["flood", "sync"] });
    const received = inbox(subscriber);
    const publisher = await fixture.client(parent, { events: [] });
    await sync(publisher, [received]);
    let count = 0;
    let bytes = 0;
    subscriber.onMessage((message) => {
      if (message.event !== "flood") return;
      count++;
      bytes += message.data.length;
    });
    const total = 2048; // 128 MiB: more than loopback kernel buffers absorb (up to ~36 MiB)
    const payload = new Uint8Array(64 * 1024);
    // The child stops reading for a while: its link fills far past the parent's 1 MiB limit.
    child.process.kill("SIGSTOP");
    const resume = setTimeout(() => child.process.kill("SIGCONT"), 800);
    for (let i = 0; i < total; i++) {
      publisher.publish("flood", payload);
      if (i % 64 === 63) await publisher.flush();
    }
    await publisher.flush();
    clearTimeout(resume);
    child.process.kill("SIGCONT");
    const deadline = Date.now() + 20_000;
    while (count < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(count).toBe(total);
    expect(bytes).toBe(total * payload.length);
    expect(publisher.isReady).toBe(true);
    expect(watcher.messages).toEqual([]);
    expect(parent.stderr.join("\n")).not.toMatch(/slow_consumer/);
  }, 30_000);
});
