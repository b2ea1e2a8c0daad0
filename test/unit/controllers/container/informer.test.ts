import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { ContainerInformer, type InformerOptions } from "../../../../controllers/container/informer.js";
import { FakeClock, settle } from "../../../support/fake-clock.js";
import { FakeEngine } from "../../agent/fake-engine.js";
import { running, spec } from "./fixtures.js";

async function setup(options: Partial<InformerOptions> = {}) {
  const clock = new FakeClock();
  const engine = new FakeEngine(clock);
  /** Each change as `stack/resource`, sorted. */
  const changes: { resources: string[]; eventAt: number | undefined }[] = [];
  const errors: string[] = [];
  const informer = new ContainerInformer({
    node: "n",
    engine,
    events: engine,
    clock,
    onChange: (changed, eventAt) =>
      changes.push({ resources: changed.map((c) => `${c.stack}/${c.resource}`).sort(), eventAt }),
    onError: (message) => errors.push(message),
    ...options,
  });
  await informer.start();
  const lists = () => engine.calls.filter((call) => call === "list").length;
  return { clock, engine, informer, changes, errors, lists };
}

const add = (engine: FakeEngine, resource: string, replica = 1, stack = "shop") => {
  const container = running("n", spec(resource), replica, "running", stack);
  engine.containers.set(container.id, container);
  return container;
};

describe("ContainerInformer", () => {
  it("lists once at start and watches the event stream", async () => {
    const { engine, informer, lists } = await setup();
    expect(lists()).toBe(1);
    expect(informer.synced).toBe(true);
    expect(engine.watchers).toBe(1);
  });

  it("retries a failed list with backoff instead of waiting for the resync", async () => {
    const { clock, engine, informer, changes, errors } = await setup();
    const web = add(engine, "web");
    engine.listFailure = new Error("engine busy");
    engine.emit({ containerId: web.id, resource: "web", action: "create", time: 1000 });
    await clock.advance(15);
    expect(errors).toEqual(["engine busy"]);
    expect(changes).toEqual([]);
    expect(informer.error).toBe("engine busy");
    expect(informer.synced).toBe(true);
    engine.listFailure = undefined;
    await clock.advance(199);
    expect(changes).toEqual([]);
    await clock.advance(1);
    expect(changes).toEqual([{ resources: ["shop/web"], eventAt: 1000 }]);
    expect(informer.error).toBeUndefined();
  });

  it("says it has not synced, and why, while its first list fails", async () => {
    const clock = new FakeClock();
    const engine = new FakeEngine(clock);
    engine.listFailure = new Error("engine gone");
    const informer = new ContainerInformer({
      node: "n",
      engine,
      events: engine,
      clock,
      onChange: () => undefined,
    });
    await expect(informer.start()).rejects.toThrow("engine gone");
    expect(informer.synced).toBe(false);
    expect(informer.error).toBe("engine gone");
    expect(informer.items()).toEqual([]);
    engine.listFailure = undefined;
    await informer.relist();
    expect(informer.synced).toBe(true);
    expect(informer.error).toBeUndefined();
    informer.stop();
  });

  it("tells apart resources of one name in two stacks", async () => {
    const { clock, engine, informer, changes } = await setup();
    const shop = add(engine, "web", 1, "shop");
    const blog = add(engine, "web", 1, "blog");
    engine.emit({ containerId: shop.id, resource: "web", action: "create", time: 1000 });
    await clock.advance(15);
    expect(changes).toEqual([{ resources: ["blog/web", "shop/web"], eventAt: 1000 }]);
    engine.containers.get(blog.id)!.state = "exited";
    engine.emit({ containerId: blog.id, resource: "web", action: "die", time: 2000 });
    await clock.advance(15);
    expect(changes.at(-1)).toEqual({ resources: ["blog/web"], eventAt: 2000 });
    expect(
      informer
        .items()
        .map((c) => c.name)
        .sort(),
    ).toEqual(["blog_web_1_n", "shop_web_1_n"]);
  });

  it("coalesces a burst of events into one list, reporting the first event's time", async () => {
    const { clock, engine, changes, lists } = await setup();
    const web = add(engine, "web");
    for (const action of ["create", "start", "kill", "die", "destroy"]) {
      engine.emit({ containerId: web.id, resource: "web", action, time: 1000 + changes.length });
      await clock.advance(2);
    }
    expect(lists()).toBe(1);
    await clock.advance(15);
    expect(lists()).toBe(2);
    expect(changes).toEqual([{ resources: ["shop/web"], eventAt: 1000 }]);
  });

  it("lists again when a list does not yet show an event's change (die announced before the state is exited)", async () => {
    const { clock, engine, changes, lists } = await setup();
    const web = add(engine, "web");
    await clock.advance(1000);
    changes.length = 0;
    engine.emit({ containerId: web.id, resource: "web", action: "start", time: 1000 });
    await clock.advance(15);
    expect(changes).toEqual([{ resources: ["shop/web"], eventAt: 1000 }]);
    engine.emit({ containerId: web.id, resource: "web", action: "die", time: 2000 });
    await clock.advance(15);
    expect(changes).toHaveLength(1);
    engine.containers.get(web.id)!.state = "exited";
    const before = lists();
    await clock.advance(50);
    expect(lists()).toBe(before + 1);
    expect(changes.at(-1)).toEqual({ resources: ["shop/web"], eventAt: 2000 });
    await clock.advance(1000);
    expect(lists()).toBe(before + 1);
  });

  it("gives up confirming after five more lists, spaced 50, 100, 200, 400, 800 ms", async () => {
    const { clock, engine, informer, lists } = await setup();
    const web = add(engine, "web");
    await informer.relist();
    const before = lists();
    engine.emit({ containerId: web.id, resource: "web", action: "die", time: 0 });
    await clock.advance(15);
    expect(lists() - before).toBe(1);
    const seen: number[] = [];
    for (const ms of [50, 100, 200, 400, 800]) {
      await clock.advance(ms - 1);
      seen.push(lists() - before);
      await clock.advance(1);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    await clock.advance(10_000);
    expect(lists() - before).toBe(6);
  });

  it("after a gap in the stream, relists (catching changes that had no event) and watches again after a backoff", async () => {
    const { clock, engine, informer, changes, errors, lists } = await setup();
    engine.breakStream();
    expect(errors).toEqual(["docker event stream interrupted: connection reset"]);
    expect(engine.watchers).toBe(0);
    add(engine, "api");
    const [delay] = clock.pending();
    expect(delay).toBeGreaterThanOrEqual(100);
    expect(delay).toBeLessThanOrEqual(200);
    await clock.advance(200);
    expect(engine.watchers).toBe(1);
    expect(lists()).toBe(2);
    expect(changes).toEqual([{ resources: ["shop/api"], eventAt: undefined }]);
    expect(informer.items().map((c) => c.name)).toEqual(["shop_api_1_n"]);
  });

  it("reconnects with growing, capped backoff while the stream keeps failing, and resets after an event", async () => {
    const { clock, engine } = await setup({ maxBackoffMs: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      engine.breakStream();
      const [delay] = clock.pending();
      delays.push(delay ?? -1);
      await clock.advance(delay ?? 0);
    }
    // 100·2^attempt, capped, times a jitter in [0.5, 1].
    const bounds = [200, 400, 800, 1000, 1000];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(bounds[i]! / 2);
      expect(delay).toBeLessThanOrEqual(bounds[i]!);
    });
    engine.emit({ containerId: "x", resource: "web", action: "start", time: 0 });
    engine.breakStream();
    // The reconnect, not the engine probe that is always pending.
    expect(Math.min(...clock.pending())).toBeLessThanOrEqual(200);
  });

  it("asks a silent engine whether it answers: when it stops, every resource is told and the error kept; when it answers again, relists and tells them again", async () => {
    const { clock, engine, informer, changes, errors } = await setup({ probeMs: 5000 });
    add(engine, "web");
    add(engine, "api");
    await informer.relist();
    changes.length = 0;
    engine.pingFailure = new Error("cannot reach the Docker engine: connect ECONNREFUSED");
    await clock.advance(5000);
    expect(informer.error).toBe("cannot reach the Docker engine: connect ECONNREFUSED");
    expect(errors).toEqual(["cannot reach the Docker engine: connect ECONNREFUSED"]);
    expect(changes).toEqual([{ resources: ["shop/api", "shop/web"], eventAt: undefined }]);
    // Said once while it lasts, not on every probe.
    await clock.advance(5000);
    expect(errors).toHaveLength(1);
    expect(changes).toHaveLength(1);

    engine.pingFailure = undefined;
    const listsBefore = engine.calls.filter((call) => call === "list").length;
    await clock.advance(5000);
    expect(informer.error).toBeUndefined();
    expect(engine.calls.filter((call) => call === "list").length).toBe(listsBefore + 1);
    expect(changes.at(-1)).toEqual({ resources: ["shop/api", "shop/web"], eventAt: undefined });
  });

  it("keeps nothing on the node's stop signal per probe: 200 probes leave no listener and no dependent signal", async () => {
    const stop = new AbortController();
    const { clock, engine } = await setup({ probeMs: 5000, signal: stop.signal });
    let pings = 0;
    const ping = engine.ping.bind(engine);
    engine.ping = (options) => {
      pings++;
      return ping(options);
    };
    const listeners = getEventListeners(stop.signal, "abort").length;
    for (let probe = 0; probe < 200; probe++) await clock.advance(5000);
    expect(pings).toBeGreaterThanOrEqual(200);
    expect(getEventListeners(stop.signal, "abort").length).toBe(listeners);
    // AbortSignal.any records each combined signal on its sources (Node's kDependantSignals) and, on
    // Node 20, never drops the record: the leak this guards against.
    const dependants = Object.getOwnPropertySymbols(stop.signal)
      .filter((symbol) => symbol.description === "kDependantSignals")
      .map((symbol) => (stop.signal as unknown as Record<symbol, Set<unknown>>)[symbol]?.size ?? 0);
    expect(dependants.reduce((sum, size) => sum + size, 0)).toBe(0);
  });

  it("stops watching and retrying when stopped", async () => {
    const { clock, engine, informer } = await setup();
    engine.breakStream();
    informer.stop();
    await clock.advance(20_000);
    await settle();
    expect(engine.watchers).toBe(0);
    expect(clock.pending()).toEqual([]);
  });
});

describe("ContainerInformer — restart counts", () => {
  /** Counts as the engine would answer an inspect, and which containers were asked about. */
  function counter(counts: Map<string, number>) {
    const asked: string[] = [];
    return {
      asked,
      restartCount: async (id: string) => {
        asked.push(id);
        return counts.get(id) ?? null;
      },
    };
  }

  it("reads each container's count once at first list, then only after its start, restart or die events", async () => {
    const counts = new Map<string, number>();
    const restarts = counter(counts);
    const clock = new FakeClock();
    const engine = new FakeEngine(clock);
    const web = add(engine, "web");
    const db = add(engine, "db");
    counts.set(web.id, 0);
    counts.set(db.id, 2);
    const changes: string[][] = [];
    const informer = new ContainerInformer({
      node: "n",
      engine,
      events: engine,
      restarts,
      clock,
      onChange: (changed) => changes.push(changed.map((c) => c.resource)),
    });
    await informer.start();
    await settle();
    expect(restarts.asked.sort()).toEqual([web.id, db.id].sort());
    const countOf = (id: string) => informer.items().find((c) => c.id === id)?.restarts;
    expect(countOf(web.id)).toBe(0);
    expect(countOf(db.id)).toBe(2);
    expect(changes).toContainEqual(["db"]);

    // Events that cannot move the count, and later lists, read nothing.
    engine.emit({ containerId: web.id, resource: "web", action: "health_status: healthy", time: 1 });
    await clock.advance(1000);
    expect(restarts.asked).toHaveLength(2);

    counts.set(web.id, 1);
    engine.emit({ containerId: web.id, resource: "web", action: "start", time: 2 });
    await settle();
    await clock.advance(1000);
    expect(restarts.asked).toHaveLength(3);
    expect(countOf(web.id)).toBe(1);
    expect(changes).toContainEqual(["web"]);
    informer.stop();
  });

  it("shows null while the count is unknown, and without a counter", async () => {
    const { engine, informer } = await setup();
    add(engine, "web");
    await informer.relist();
    expect(informer.items().map((c) => c.restarts)).toEqual([null]);
    informer.stop();
  });
});
