import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AgentBus, NodeAgent, type NodeAgentOptions } from "../../../src/agent/node-agent.js";
import type { DriftReport } from "../../../src/agent/reports.js";
import type { SliceDocument } from "../../../src/agent/slice.js";
import type { Message, Payload } from "../../../src/bus/message.js";
import { FakeClock, settle } from "../../support/fake-clock.js";
import { spec } from "../plan/fixtures.js";
import { FakeEngine } from "./fake-engine.js";

class RecordingBus implements AgentBus {
  readonly published: { event: string; payload: unknown }[] = [];
  readonly handlers = new Map<string, (request: Message) => Payload | Promise<Payload>>();
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    this.handlers.set(event, handler);
    return () => this.handlers.delete(event);
  }
  publish(event: string, payload?: Payload): void {
    this.published.push({ event, payload: JSON.parse(String(payload)) });
  }
  /** Calls the handler as the bus would, with the raw request body. */
  async request(event: string, body: string): Promise<unknown> {
    const handler = this.handlers.get(event);
    if (!handler) throw new Error(`nothing handles ${event}`);
    const request = { event, text: () => body, json: () => JSON.parse(body) } as unknown as Message;
    return JSON.parse(String(await handler(request)));
  }
  drifts(): DriftReport[] {
    return this.published.filter((p) => p.event === "drift").map((p) => p.payload as DriftReport);
  }
}

function slice(generation: number, replicas = 1, env: Record<string, string> = {}): SliceDocument {
  return {
    generation,
    prune: false,
    containers: {
      web: {
        spec: spec("web", { replicas, env }),
        replicas: Array.from({ length: replicas }, (_, i) => i + 1),
      },
    },
  };
}

/** Real file writes run outside the fake clock: let them (and the promises after them) finish. */
async function until(check: () => boolean | Promise<boolean>, what = "condition"): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

let home: string;
let clock: FakeClock;
let engine: FakeEngine;
let bus: RecordingBus;
const agents: NodeAgent[] = [];

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-agent-unit-"));
  clock = new FakeClock();
  engine = new FakeEngine(clock);
  bus = new RecordingBus();
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await rm(home, { recursive: true, force: true });
});

async function startAgent(options: Partial<NodeAgentOptions> = {}): Promise<NodeAgent> {
  const agent = new NodeAgent({
    name: "n",
    tags: [],
    home,
    engine,
    events: engine,
    bus,
    heal: true,
    clock,
    resyncMs: 3_600_000,
    stopTimeoutSeconds: 0,
    ...options,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

const webStatus = (agent: NodeAgent) => agent.state().statuses.find((s) => s.resource === "web");

describe("NodeAgent — taking slices", () => {
  it("takes concurrent applies one at a time: an older generation arriving meanwhile is refused", async () => {
    const agent = await startAgent();
    const [newer, older] = await Promise.all([agent.applySlice(slice(2)), agent.applySlice(slice(1))]);
    expect(newer).toEqual({ accepted: true, generation: 2 });
    expect(older).toMatchObject({ accepted: false, generation: 2 });
    expect(agent.state().generation).toBe(2);
    const onDisk = JSON.parse(await readFile(join(home, "nodes", "n", "slice.json"), "utf8"));
    expect(onDisk.generation).toBe(2);
  });

  it("accepts the same generation again when identical, and refuses it when the content differs", async () => {
    const agent = await startAgent();
    expect(await agent.applySlice(slice(3))).toEqual({ accepted: true, generation: 3 });
    expect(await agent.applySlice(slice(3))).toEqual({ accepted: true, generation: 3 });
    const other = await agent.applySlice(slice(3, 2));
    expect(other).toMatchObject({ accepted: false, generation: 3 });
    expect(other.reason).toBe(
      "the offered slice and the slice this node holds are both generation 3 but differ in web; " +
        "a changed slice needs a newer generation",
    );
    expect(agent.state().slice.containers.web?.replicas).toEqual([1]);
  });
});

describe("NodeAgent — agent.apply requests", () => {
  it("answers a request that is not JSON with a refusal", async () => {
    const agent = await startAgent();
    const answer = await bus.request("agent.apply", "{not json");
    expect(answer).toMatchObject({ accepted: false, generation: 0 });
    expect((answer as { reason: string }).reason).toMatch(/^the slice is not JSON: /);
    expect(agent.state().generation).toBe(0);
  });

  it("answers a slice of the wrong shape with every problem and its path", async () => {
    await startAgent();
    const answer = await bus.request(
      "agent.apply",
      JSON.stringify({
        generation: -1,
        prune: "yes",
        containers: { web: { spec: { name: "api", image: "" }, replicas: [0] } },
      }),
    );
    expect(answer).toEqual({
      accepted: false,
      generation: 0,
      reason:
        "invalid slice: generation: must be a whole number ≥ 0; prune: must be true or false; " +
        'containers.web.spec.name: must be "web"; containers.web.spec.image: must be a non-empty string; ' +
        "containers.web.replicas: must be a list of replica numbers ≥ 1",
    });
  });

  it("refuses, naming the file, when the slice cannot be written", async () => {
    const agent = await startAgent();
    await mkdir(join(home, "nodes"), { recursive: true });
    await writeFile(join(home, "nodes", "n"), "a file where the node's directory belongs");
    const answer = (await bus.request("agent.apply", JSON.stringify(slice(1)))) as { reason: string };
    expect(answer).toMatchObject({ accepted: false, generation: 0 });
    expect(answer.reason).toContain(join(home, "nodes", "n", "slice.json"));
    expect(answer.reason).toContain("the slice was not taken");
    expect(agent.state().generation).toBe(0);
  });

  it("answers agent.summary with the generation, settled and the statuses that are not Ready", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1));
    await until(() => agent.settled(), "settled");
    expect(await bus.request("agent.summary", "")).toEqual({
      node: "n",
      generation: 1,
      settled: true,
      unready: [],
    });
  });
});

describe("NodeAgent — stop()", () => {
  it("resolves only after the reconcile in flight and its inventory write are done", async () => {
    const agent = await startAgent();
    let release: () => void = () => undefined;
    engine.hold = new Promise((resolve) => (release = resolve));
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.reason === "Applying", "the reconcile to start");
    let stopped = false;
    const stopping = agent.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    release();
    await stopping;
    const inventory = JSON.parse(await readFile(join(home, "nodes", "n", "last-applied.json"), "utf8"));
    expect(inventory.inventory).toEqual({ web: { replicas: [1] } });
    expect(engine.calls).toContain("start n-web-1");
  });

  it("refuses slices once stopping", async () => {
    const agent = await startAgent();
    await agent.stop();
    expect(await agent.applySlice(slice(1))).toEqual({
      accepted: false,
      generation: 0,
      reason: "node n is shutting down",
    });
  });
});

describe("NodeAgent — the engine vanishing after acting", () => {
  it("still records what it created, so a later prune knows the containers are this node's", async () => {
    const agent = await startAgent();
    let release: () => void = () => undefined;
    engine.hold = new Promise((resolve) => (release = resolve));
    await agent.applySlice(slice(1, 2));
    await until(() => webStatus(agent)?.reason === "Applying", "the reconcile to start");
    engine.listFailure = new Error("engine gone");
    release();
    const inventoryFile = join(home, "nodes", "n", "last-applied.json");
    await until(async () => {
      const text = await readFile(inventoryFile, "utf8").catch(() => "{}");
      return (
        JSON.stringify(JSON.parse(text).inventory ?? {}) === JSON.stringify({ web: { replicas: [1, 2] } })
      );
    }, "the inventory to record both replicas");
    engine.listFailure = undefined;
    await agent.stop();
  });
});

describe("NodeAgent — drift", () => {
  async function removing(): Promise<{ agent: NodeAgent; id: string }> {
    const agent = await startAgent();
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    const container = engine.byName("n-web-1");
    container.state = "removing";
    engine.emit({ containerId: container.id, resource: "web", action: "kill", time: clock.now() });
    await clock.advance(20);
    await agent.idle();
    return { agent, id: container.id };
  }

  it("waits for a container being removed by hand to be gone, then reports it missing and recreates it", async () => {
    const { agent, id } = await removing();
    await clock.advance(500);
    expect(engine.calls.filter((call) => call.startsWith("create"))).toEqual(["create n-web-1"]);
    expect(bus.drifts()).toEqual([]);
    engine.containers.delete(id);
    engine.emit({ containerId: id, resource: "web", action: "destroy", time: clock.now() });
    await clock.advance(20);
    await until(() => webStatus(agent)?.condition === "Ready" && engine.starts("n-web-1") === 2, "healed");
    expect(bus.drifts()).toMatchObject([
      {
        differences: [
          { action: "create", container: "n-web-1", reason: "missing: removed outside TreeScale" },
        ],
      },
    ]);
  });

  it("acts on a container stuck in removal after a grace period", async () => {
    const { agent } = await removing();
    await clock.advance(10_100);
    await until(() => bus.drifts().length === 1, "a drift report");
    expect(bus.drifts()[0]?.differences).toMatchObject([
      { action: "recreate", reason: "container is removing" },
    ]);
    await agent.idle();
  });
});

describe("NodeAgent — crash loop", () => {
  async function running(): Promise<NodeAgent> {
    const agent = await startAgent();
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    return agent;
  }

  async function exits(): Promise<void> {
    engine.exit("n-web-1");
    await clock.advance(20);
  }

  /** The container was started `starts` times in all, and the reconcile that did it has finished. */
  async function healed(agent: NodeAgent, starts: number, what: string): Promise<void> {
    await until(() => engine.starts("n-web-1") === starts && webStatus(agent)?.condition === "Ready", what);
  }

  it("heals the first stop at once and backs off 1 s, 2 s, 4 s between further heals, Stalled meanwhile", async () => {
    const agent = await running();
    expect(engine.starts("n-web-1")).toBe(1);

    await exits();
    await healed(agent, 2, "the immediate heal");
    expect(bus.drifts()).toMatchObject([{ resource: "web", healing: true }]);

    for (const [restarts, waitMs] of [
      [1, 1000],
      [2, 2000],
      [3, 4000],
    ] as const) {
      await exits();
      await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
      expect(webStatus(agent)).toMatchObject({ condition: "Stalled" });
      expect(webStatus(agent)?.message).toContain(
        `restarted ${restarts} time${restarts === 1 ? "" : "s"}, next try in ${waitMs / 1000} s`,
      );
      expect(agent.settled()).toBe(true);
      const drift = bus.drifts().at(-1);
      expect(drift).toMatchObject({ resource: "web", healing: true });
      expect(drift?.healInMs).toBeGreaterThan(waitMs - 100);
      expect(drift?.healInMs).toBeLessThanOrEqual(waitMs);
      await clock.advance(waitMs - 100);
      await settle();
      expect(engine.starts("n-web-1")).toBe(restarts + 1);
      await clock.advance(100);
      await healed(agent, restarts + 2, `heal ${restarts + 1}`);
    }
  });

  it("a replica removed by hand is put back at once even while another replica's restart backs off", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1, 2));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    engine.exit("n-web-1");
    await clock.advance(20);
    await until(() => engine.starts("n-web-1") === 2, "the immediate heal");
    await until(() => webStatus(agent)?.condition === "Ready", "Ready again");

    engine.exit("n-web-1");
    await engine.remove(engine.byName("n-web-2").id);
    await clock.advance(20);
    await until(
      () => engine.calls.filter((c) => c === "create n-web-2").length === 2,
      "web-2 recreated at once",
    );
    expect(engine.starts("n-web-1")).toBe(2);
    await clock.advance(1000);
    await until(() => engine.starts("n-web-1") === 3, "web-1 restarted after its backoff");
  });

  it("caps the backoff at the maximum", async () => {
    const agent = await startAgent({ crashLoop: { baseMs: 1000, maxMs: 3000 } });
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    await exits();
    await healed(agent, 2, "the immediate heal");
    for (const waitMs of [1000, 2000, 3000, 3000]) {
      await exits();
      await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
      expect(webStatus(agent)?.message).toContain(`next try in ${waitMs / 1000} s`);
      const before = engine.starts("n-web-1");
      await clock.advance(waitMs);
      await healed(agent, before + 1, "the heal after the backoff");
    }
  });

  it("starts afresh once the resource stayed Ready long enough: the next heal is immediate again", async () => {
    const agent = await startAgent({ crashLoop: { baseMs: 60_000, resetAfterMs: 10_000 } });
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    await exits();
    await healed(agent, 2, "the immediate heal");
    await clock.advance(10_000);
    await exits();
    await healed(agent, 3, "an immediate heal after the reset");
    await exits();
    await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
    expect(webStatus(agent)?.message).toContain("restarted 1 time, next try in 60 s");
  });

  it("a stop during the backoff breaks the Ready stretch: no reset while it is down", async () => {
    const agent = await startAgent({ crashLoop: { baseMs: 20_000, resetAfterMs: 10_000 } });
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    await exits();
    await healed(agent, 2, "the immediate heal");
    await exits();
    await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
    await clock.advance(12_000);
    engine.emit({ containerId: "x", resource: "web", action: "die", time: clock.now() });
    await clock.advance(20);
    expect(engine.starts("n-web-1")).toBe(2);
  });

  it("a new slice is not held back by the crash history of the old one", async () => {
    const agent = await running();
    await exits();
    await healed(agent, 2, "the immediate heal");
    await exits();
    await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
    await agent.applySlice(slice(2, 1, { FIXED: "1" }));
    await until(() => webStatus(agent)?.condition === "Ready" && agent.settled(), "generation 2 Ready");
    await exits();
    // One start for the first container, one heal, one for the recreated container, then its heal.
    await healed(agent, 4, "an immediate heal of the new container");
  });
});
