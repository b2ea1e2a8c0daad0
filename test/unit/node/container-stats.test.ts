import { describe, expect, it } from "vitest";
import { eventKey, InterestTable } from "../../../src/bus/routing/interest.js";
import {
  CONTAINER_STATS_EVENT,
  type ContainerStatsPayload,
  UNKNOWN_USAGE,
  type UsageSnapshot,
} from "../../../src/model/usage.js";
import { ContainerStatsPublisher, type StatsBus } from "../../../src/node/container-stats.js";
import type { UsageSource } from "../../../src/reconcile/controller.js";
import { FakeClock } from "../../support/fake-clock.js";

/** The bus's interest bookkeeping for real (an InterestTable), its publishes recorded. */
class TableBus implements StatsBus {
  readonly table = new InterestTable<string>();
  readonly published: ContainerStatsPayload[] = [];
  interested(event: string): boolean {
    return this.table.count(eventKey(event)) > 0;
  }
  watchInterest(event: string, listener: (interested: boolean) => void): () => void {
    return this.table.watch(eventKey(event), listener);
  }
  publish(event: string, payload: string): void {
    expect(event).toBe(CONTAINER_STATS_EVENT);
    this.published.push(JSON.parse(payload) as ContainerStatsPayload);
  }
}

class FakeUsage implements UsageSource {
  following = false;
  samples = 0;
  snapshot: UsageSnapshot = {
    rows: [
      {
        id: "c1",
        name: "s_n_web_1",
        stack: "s",
        resource: "web",
        replica: 1,
        ...UNKNOWN_USAGE,
        cpuPercent: 12.5,
      },
    ],
  };
  follow(): void {
    this.following = true;
  }
  unfollow(): void {
    this.following = false;
  }
  current(): UsageSnapshot {
    if (!this.following) throw new Error("current() while not following");
    return this.snapshot;
  }
  async sample(): Promise<UsageSnapshot> {
    this.samples++;
    return this.snapshot;
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const bus = new TableBus();
  const source = new FakeUsage();
  const clock = new FakeClock();
  const publisher = new ContainerStatsPublisher({ node: "n1", bus, sources: () => [source], clock });
  publisher.start();
  return { bus, source, clock, publisher };
}

describe("container.stats publisher", () => {
  it("samples nothing and publishes nothing while nobody subscribes", async () => {
    const { bus, source, clock } = setup();
    // A `*` subscriber is not a container.stats subscriber: it does not start the engine's stats.
    bus.table.addLocal([eventKey("*"), eventKey("drift")]);
    await settle();
    await clock.advance(10_000);
    expect(source.following).toBe(false);
    expect(bus.published).toEqual([]);
    expect(clock.pending()).toEqual([]);
  });

  it("follows while a subscriber on either side of the tree wants the event, once a second at most", async () => {
    const { bus, source, clock } = setup();
    // Interest from the parent's side (a dashboard on the root) arrives as a link's advertisement.
    bus.table.addLink("parent");
    bus.table.applyLink("parent", { add: [eventKey(CONTAINER_STATS_EVENT)], remove: [] });
    await settle();
    expect(source.following).toBe(true);
    await clock.advance(3_500);
    expect(bus.published).toHaveLength(3);
    expect(bus.published[0]).toMatchObject({
      node: "n1",
      at: new Date(1000).toISOString(),
      containers: [{ id: "c1", resource: "web", cpuPercent: 12.5, memoryBytes: null }],
    });
    // A local client joins, then the parent's side leaves: still wanted.
    bus.table.addLocal([eventKey(CONTAINER_STATS_EVENT)]);
    bus.table.applyLink("parent", { add: [], remove: [eventKey(CONTAINER_STATS_EVENT)] });
    await settle();
    expect(source.following).toBe(true);
    bus.table.removeLocal([eventKey(CONTAINER_STATS_EVENT)]);
    await settle();
    expect(source.following).toBe(false);
    const count = bus.published.length;
    await clock.advance(5_000);
    expect(bus.published).toHaveLength(count);
  });

  it("interest present before start is followed at once", async () => {
    const bus = new TableBus();
    bus.table.addLocal([eventKey(CONTAINER_STATS_EVENT)]);
    const source = new FakeUsage();
    new ContainerStatsPublisher({ node: "n1", bus, sources: () => [source], clock: new FakeClock() }).start();
    expect(source.following).toBe(true);
  });

  it("an engine it cannot see is said so, with no containers made up", async () => {
    const { bus, source, clock } = setup();
    source.snapshot = { error: "cannot see the engine: connect ENOENT /var/run/docker.sock" };
    bus.table.addLocal([eventKey(CONTAINER_STATS_EVENT)]);
    await settle();
    await clock.advance(1_000);
    expect(bus.published).toEqual([
      { node: "n1", at: new Date(1000).toISOString(), containers: [], error: source.snapshot.error },
    ]);
  });

  it("a scrape while nobody follows asks the engine once, and scrapes within 5 s share the answer", async () => {
    const { source, clock, publisher } = setup();
    const signal = new AbortController().signal;
    expect(await publisher.scrape(signal)).toEqual(source.snapshot);
    await clock.advance(4_000);
    await publisher.scrape(signal);
    expect(source.samples).toBe(1);
    await clock.advance(1_500);
    await publisher.scrape(signal);
    expect(source.samples).toBe(2);
    expect(source.following).toBe(false);
  });
});
