import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { containerController } from "../../../controllers/container/index.js";
import { type AgentBus, NodeAgent, type NodeAgentOptions } from "../../../src/agent/node-agent.js";
import type { Message, Payload } from "../../../src/bus/message.js";
import type { CreateContainerRequest, EngineCallOptions } from "../../../src/drivers/engine.js";
import { EngineTimeoutError } from "../../../src/drivers/engine-errors.js";
import { EngineUnreachableError } from "../../../src/errors.js";
import type { DriftReport, ResourceStatus, SliceDocument } from "../../../src/model/wire.js";
import { FakeClock, settle } from "../../support/fake-clock.js";
import { spec } from "../controllers/container/fixtures.js";
import { FakeEngine } from "./fake-engine.js";

class RecordingBus implements AgentBus {
  readonly published: { event: string; payload: unknown }[] = [];
  readonly handlers = new Map<string, (request: Message) => Payload | Promise<Payload>>();
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    this.handlers.set(event, handler);
    return () => this.handlers.delete(event);
  }
  /** Nothing is published to an agent alone: it has no tree around it. */
  subscribe(): () => void {
    return () => {};
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

/**
 * The fake engine, with the creates of chosen container names timing out as the Docker driver's do
 * when dockerd takes the request and never answers (test/unit/drivers/docker-deadlines.test.ts).
 */
class HangingCreatesEngine extends FakeEngine {
  readonly hungCreates = new Set<string>();

  override async create(request: CreateContainerRequest, options: EngineCallOptions = {}): Promise<string> {
    if (!this.hungCreates.has(request.name)) return super.create(request, options);
    this.calls.push(`create ${request.name} (timed out)`);
    const operation = `create container "${request.name}"`;
    throw new EngineTimeoutError(
      operation,
      30_000,
      `${operation} timed out after 30 s: the Docker engine at unix socket /var/run/docker.sock ` +
        "took the request but did not finish it.",
    );
  }
}

const STACK = "shop";
const WEB = "container/web";

function slice(
  generation: number,
  replicas = 1,
  env: Record<string, string> = {},
  stack = STACK,
): SliceDocument {
  return {
    stack,
    generation,
    prune: false,
    resources: {
      [WEB]: {
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
    controllers: [
      containerController({ drivers: () => ({ engine, events: engine }), stopTimeoutSeconds: 0 }),
    ],
    bus,
    heal: true,
    clock,
    resyncMs: 3_600_000,
    ...options,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

const stackFile = (stack: string, file: "slice.json" | "inventory.json") =>
  join(home, "nodes", "n", "stacks", stack, file);

const statusOf = (agent: NodeAgent, key: string, stack = STACK): ResourceStatus | undefined =>
  agent.state().stacks[stack]?.statuses.find((s) => s.resource === key);

const webStatus = (agent: NodeAgent, stack = STACK) => statusOf(agent, WEB, stack);

describe("NodeAgent — taking slices", () => {
  it("takes concurrent applies one at a time: an older generation arriving meanwhile is refused", async () => {
    const agent = await startAgent();
    const [newer, older] = await Promise.all([agent.applySlice(slice(2)), agent.applySlice(slice(1))]);
    expect(newer).toEqual({ accepted: true, generation: 2 });
    expect(older).toMatchObject({ accepted: false, generation: 2 });
    expect(agent.state().stacks[STACK]?.slice.generation).toBe(2);
    const onDisk = JSON.parse(await readFile(stackFile(STACK, "slice.json"), "utf8"));
    expect(onDisk.generation).toBe(2);
  });

  it("accepts the same generation again when identical, and refuses it when the content differs", async () => {
    const agent = await startAgent();
    expect(await agent.applySlice(slice(3))).toEqual({ accepted: true, generation: 3 });
    expect(await agent.applySlice(slice(3))).toEqual({ accepted: true, generation: 3 });
    const other = await agent.applySlice(slice(3, 2));
    expect(other).toMatchObject({ accepted: false, generation: 3 });
    expect(other.reason).toBe(
      "the offered slice and the slice this node holds are both generation 3 but differ in container/web; " +
        "a changed slice needs a newer generation",
    );
    expect(agent.state().stacks[STACK]?.slice.resources[WEB]?.replicas).toEqual([1]);
  });
});

describe("NodeAgent — agent.apply requests", () => {
  it("answers a request that is not JSON with a refusal", async () => {
    const agent = await startAgent();
    const answer = await bus.request("agent.apply", "{not json");
    expect(answer).toMatchObject({ accepted: false, generation: 0 });
    expect((answer as { reason: string }).reason).toMatch(/^the slice is not JSON: /);
    expect(agent.state().stacks).toEqual({});
  });

  it("answers a slice of the wrong shape with every problem and its path", async () => {
    await startAgent();
    const answer = await bus.request(
      "agent.apply",
      JSON.stringify({
        stack: "Shop!",
        generation: -1,
        prune: "yes",
        resources: { [WEB]: { spec: { name: "api", image: "" }, replicas: [0] }, web: {} },
      }),
    );
    expect(answer).toEqual({
      accepted: false,
      generation: 0,
      reason:
        "invalid slice: stack: must be a lowercase name of letters, digits and '-'; " +
        "generation: must be a whole number ≥ 0; prune: must be true or false; " +
        'resources.container/web.spec.name: must be "web"; ' +
        "resources.container/web.spec.image: must be a non-empty string; " +
        "resources.container/web.replicas: must be a list of replica numbers ≥ 1; " +
        "resources.web: keys are kind/name, such as container/web",
    });
  });

  it("refuses, naming the file, when the slice cannot be written", async () => {
    const agent = await startAgent();
    await mkdir(join(home, "nodes"), { recursive: true });
    await writeFile(join(home, "nodes", "n"), "a file where the node's directory belongs");
    const answer = (await bus.request("agent.apply", JSON.stringify(slice(1)))) as { reason: string };
    expect(answer).toMatchObject({ accepted: false, generation: 0 });
    expect(answer.reason).toContain(stackFile(STACK, "slice.json"));
    expect(answer.reason).toContain("the slice was not taken");
    expect(agent.state().stacks).toEqual({});
  });

  it("answers agent.summary for the stack asked with the generation, settled and the statuses that are not Ready", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1));
    await until(() => agent.settled(STACK), "settled");
    expect(await bus.request("agent.summary", JSON.stringify({ stack: STACK }))).toEqual({
      node: "n",
      stack: STACK,
      generation: 1,
      settled: true,
      unready: [],
      blind: [],
    });
    expect(await bus.request("agent.summary", JSON.stringify({ stack: "blog" }))).toMatchObject({
      stack: "blog",
      generation: 0,
    });
  });
});

describe("NodeAgent — stop()", () => {
  it("aborts the engine call in flight, and resolves only after that reconcile and its inventory write are done", async () => {
    const agent = await startAgent();
    // Never released: only the abort ends the create.
    engine.hold = new Promise(() => undefined);
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.reason === "Applying", "the reconcile to start");
    const inventoryFile = stackFile(STACK, "inventory.json");
    await expect(readFile(inventoryFile, "utf8")).rejects.toMatchObject({ code: "ENOENT" });
    await agent.stop();
    const inventory = JSON.parse(await readFile(inventoryFile, "utf8"));
    expect(inventory.inventory).toEqual({ [WEB]: { replicas: [] } });
    expect(engine.calls.filter((call) => call !== "list")).toEqual([]);
    expect(webStatus(agent)).toMatchObject({
      condition: "Reconciling",
      reason: "ActionFailed",
      message: expect.stringContaining("was cancelled before it finished"),
    });
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
    const inventoryFile = stackFile(STACK, "inventory.json");
    await until(async () => {
      const text = await readFile(inventoryFile, "utf8").catch(() => "{}");
      return (
        JSON.stringify(JSON.parse(text).inventory ?? {}) === JSON.stringify({ [WEB]: { replicas: [1, 2] } })
      );
    }, "the inventory to record both replicas");
    await until(() => webStatus(agent)?.condition === "Stalled", "web Stalled");
    expect(webStatus(agent)).toMatchObject({
      reason: "EngineUnreachable",
      message: "cannot list after acting: engine gone",
    });
    expect(agent.state().observed.container).toMatchObject({ synced: true, error: "engine gone" });
    engine.listFailure = undefined;
    await agent.stop();
  });
});

describe("NodeAgent — drift", () => {
  async function removing(): Promise<{ agent: NodeAgent; id: string }> {
    const agent = await startAgent();
    await agent.applySlice(slice(1));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    const container = engine.byName("shop_web_1_n");
    container.state = "removing";
    engine.emit({ containerId: container.id, resource: "web", action: "kill", time: clock.now() });
    await clock.advance(20);
    await agent.idle();
    return { agent, id: container.id };
  }

  it("waits for a container being removed by hand to be gone, then reports it missing and recreates it", async () => {
    const { agent, id } = await removing();
    await clock.advance(500);
    expect(engine.calls.filter((call) => call.startsWith("create"))).toEqual(["create shop_web_1_n"]);
    expect(bus.drifts()).toEqual([]);
    engine.containers.delete(id);
    engine.emit({ containerId: id, stack: STACK, resource: "web", action: "destroy", time: clock.now() });
    await clock.advance(20);
    await until(
      () => webStatus(agent)?.condition === "Ready" && engine.starts("shop_web_1_n") === 2,
      "healed",
    );
    expect(bus.drifts()).toMatchObject([
      {
        node: "n",
        stack: STACK,
        resource: WEB,
        differences: [
          { action: "create", target: "shop_web_1_n", reason: "missing: removed outside TreeScale" },
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
    engine.exit("shop_web_1_n");
    await clock.advance(20);
  }

  /** The container was started `starts` times in all, and the reconcile that did it has finished. */
  async function healed(agent: NodeAgent, starts: number, what: string): Promise<void> {
    await until(
      () => engine.starts("shop_web_1_n") === starts && webStatus(agent)?.condition === "Ready",
      what,
    );
  }

  it("heals the first stop at once and backs off 1 s, 2 s, 4 s between further heals, Stalled meanwhile", async () => {
    const agent = await running();
    expect(engine.starts("shop_web_1_n")).toBe(1);

    await exits();
    await healed(agent, 2, "the immediate heal");
    expect(bus.drifts()).toMatchObject([{ stack: STACK, resource: WEB, healing: true }]);

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
      expect(agent.settled(STACK)).toBe(true);
      const drift = bus.drifts().at(-1);
      expect(drift).toMatchObject({ resource: WEB, healing: true });
      expect(drift?.healInMs).toBeGreaterThan(waitMs - 100);
      expect(drift?.healInMs).toBeLessThanOrEqual(waitMs);
      await clock.advance(waitMs - 100);
      await settle();
      expect(engine.starts("shop_web_1_n")).toBe(restarts + 1);
      await clock.advance(100);
      await healed(agent, restarts + 2, `heal ${restarts + 1}`);
    }
  });

  it("a replica removed by hand is put back at once even while another replica's restart backs off", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1, 2));
    await until(() => webStatus(agent)?.condition === "Ready", "web Ready");
    engine.exit("shop_web_1_n");
    await clock.advance(20);
    await until(() => engine.starts("shop_web_1_n") === 2, "the immediate heal");
    await until(() => webStatus(agent)?.condition === "Ready", "Ready again");

    engine.exit("shop_web_1_n");
    await engine.remove(engine.byName("shop_web_2_n").id);
    await clock.advance(20);
    await until(
      () => engine.calls.filter((c) => c === "create shop_web_2_n").length === 2,
      "web-2 recreated at once",
    );
    expect(engine.starts("shop_web_1_n")).toBe(2);
    await clock.advance(1000);
    await until(() => engine.starts("shop_web_1_n") === 3, "web-1 restarted after its backoff");
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
      const before = engine.starts("shop_web_1_n");
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
    engine.emit({ containerId: "x", stack: STACK, resource: "web", action: "die", time: clock.now() });
    await clock.advance(20);
    expect(engine.starts("shop_web_1_n")).toBe(2);
  });

  it("a new slice is not held back by the crash history of the old one", async () => {
    const agent = await running();
    await exits();
    await healed(agent, 2, "the immediate heal");
    await exits();
    await until(() => webStatus(agent)?.reason === "CrashLoopBackOff", "CrashLoopBackOff");
    await agent.applySlice(slice(2, 1, { FIXED: "1" }));
    await until(() => webStatus(agent)?.condition === "Ready" && agent.settled(STACK), "generation 2 Ready");
    await exits();
    // One start for the first container, one heal, one for the recreated container, then its heal.
    await healed(agent, 4, "an immediate heal of the new container");
  });
});

describe("NodeAgent — stacks", () => {
  const containers = () =>
    [...engine.containers.values()]
      .map((c) => [c.name, c.stack, c.state])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it("runs a resource named web in two stacks side by side: separate containers, statuses and inventories", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1, 1, {}, "shop"));
    await agent.applySlice(slice(4, 1, {}, "blog"));
    await until(
      () => agent.settled("shop") && agent.settled("blog") && webStatus(agent, "blog")?.condition === "Ready",
      "both stacks Ready",
    );
    expect(containers()).toEqual([
      ["blog_web_1_n", "blog", "running"],
      ["shop_web_1_n", "shop", "running"],
    ]);
    const { stacks } = agent.state();
    expect(stacks.shop?.statuses).toMatchObject([
      { stack: "shop", resource: WEB, condition: "Ready", observedGeneration: 1 },
    ]);
    expect(stacks.blog?.statuses).toMatchObject([
      { stack: "blog", resource: WEB, condition: "Ready", observedGeneration: 4 },
    ]);
    expect(stacks.shop?.statuses).toHaveLength(1);
    expect(stacks.blog?.statuses).toHaveLength(1);
    expect(stacks.shop?.inventory).toEqual({ [WEB]: { replicas: [1] } });
    expect(stacks.blog?.inventory).toEqual({ [WEB]: { replicas: [1] } });

    engine.exit("blog_web_1_n");
    await clock.advance(20);
    await until(() => engine.starts("blog_web_1_n") === 2 && webStatus(agent, "blog")?.condition === "Ready");
    expect(bus.drifts()).toMatchObject([{ stack: "blog", resource: WEB }]);
    expect(engine.starts("shop_web_1_n")).toBe(1);
  });

  it("prunes within one stack only: the other stack's web keeps running, Ready", async () => {
    const agent = await startAgent();
    await agent.applySlice(slice(1, 1, {}, "shop"));
    await agent.applySlice(slice(1, 1, {}, "blog"));
    await until(
      () =>
        webStatus(agent, "shop")?.condition === "Ready" && webStatus(agent, "blog")?.condition === "Ready",
      "both stacks Ready",
    );
    expect(await agent.applySlice({ stack: "shop", generation: 2, prune: true, resources: {} })).toEqual({
      accepted: true,
      generation: 2,
    });
    await until(() => engine.calls.includes("remove shop_web_1_n") && agent.settled("shop"), "shop pruned");
    await agent.idle();
    expect(containers()).toEqual([["blog_web_1_n", "blog", "running"]]);
    expect(engine.calls.filter((call) => call.startsWith("remove"))).toEqual(["remove shop_web_1_n"]);
    const inventoryOf = async (stack: string) =>
      JSON.parse(await readFile(stackFile(stack, "inventory.json"), "utf8")).inventory;
    await until(async () => Object.keys(await inventoryOf("shop")).length === 0, "shop's inventory emptied");
    const { stacks } = agent.state();
    expect(stacks.shop?.statuses).toEqual([]);
    expect(stacks.shop?.inventory).toEqual({});
    expect(stacks.blog?.statuses).toMatchObject([{ resource: WEB, condition: "Ready" }]);
    expect(stacks.blog?.inventory).toEqual({ [WEB]: { replicas: [1] } });
    expect(await inventoryOf("blog")).toEqual({ [WEB]: { replicas: [1] } });
  });
});

describe("NodeAgent — kinds it cannot act on", () => {
  it("takes a slice with a kind it has no controller for, and holds that resource Stalled with NoController", async () => {
    const agent = await startAgent();
    const answer = await bus.request(
      "agent.apply",
      JSON.stringify({
        ...slice(1),
        resources: { ...slice(1).resources, "balancer/lb": { spec: { name: "lb" }, replicas: [1] } },
      }),
    );
    expect(answer).toEqual({ accepted: true, generation: 1 });
    await until(() => agent.settled(STACK), "settled");
    expect(statusOf(agent, "balancer/lb")).toMatchObject({
      stack: STACK,
      condition: "Stalled",
      reason: "NoController",
      message: "this node's version has no controller for kind balancer",
      observedGeneration: 1,
    });
    expect(webStatus(agent)).toMatchObject({ condition: "Ready" });
    expect(agent.summary(STACK).unready).toMatchObject([{ resource: "balancer/lb", reason: "NoController" }]);
    expect(Object.keys(agent.state().observed)).toEqual(["container"]);
  });

  it("says it cannot see a kind whose list fails, and holds its resources Stalled with EngineUnreachable", async () => {
    const unreachable = "cannot reach the Docker engine at /var/run/docker.sock: connect ENOENT";
    engine.listFailure = new EngineUnreachableError(unreachable);
    const log: string[] = [];
    const agent = await startAgent({ log: (line) => log.push(line) });
    // The first list is not waited for by start(): it fails on its own, and says so.
    await until(
      () => log.includes(`[agent n] container: cannot list: ${unreachable}`),
      "the failed list logged",
    );
    expect(agent.state().observed).toEqual({ container: { synced: false, error: unreachable, items: [] } });
    expect(agent.summary(STACK).blind).toEqual([`container: ${unreachable}`]);

    expect(await agent.applySlice(slice(1))).toEqual({ accepted: true, generation: 1 });
    await until(() => webStatus(agent)?.reason === "EngineUnreachable", "web Stalled");
    expect(webStatus(agent)).toMatchObject({
      condition: "Stalled",
      message: `cannot list container objects: ${unreachable}`,
      observedGeneration: 1,
    });
    expect(agent.summary(STACK)).toMatchObject({ settled: true, unready: [{ resource: WEB }] });
    expect(engine.calls.filter((call) => call !== "list")).toEqual([]);

    engine.listFailure = undefined;
    // The retry of the failed reconcile comes on the fake clock, whenever the failure happened.
    await until(async () => {
      await clock.advance(1000);
      return webStatus(agent)?.condition === "Ready";
    }, "web Ready once the engine answers");
    expect(agent.state().observed.container).toMatchObject({ synced: true });
    expect(agent.state().observed.container).not.toHaveProperty("error");
    expect(agent.summary(STACK).blind).toEqual([]);
  });
});

describe("NodeAgent — an engine timing out on one resource", () => {
  const API = "container/api";
  const twoResources = (): SliceDocument => ({
    ...slice(1, 2),
    resources: { ...slice(1, 2).resources, [API]: { spec: spec("api"), replicas: [1] } },
  });

  it("stalls that resource with EngineTimeout, converges the rest of the slice, and a retry converges it once the engine answers", async () => {
    const hanging = new HangingCreatesEngine(clock);
    engine = hanging;
    hanging.hungCreates.add("shop_api_1_n");
    const log: string[] = [];
    const agent = await startAgent({ log: (line) => log.push(line) });
    await agent.applySlice(twoResources());
    await until(
      () => statusOf(agent, API)?.reason === "EngineTimeout" && webStatus(agent)?.condition === "Ready",
      "api Stalled and web Ready",
    );
    expect(statusOf(agent, API)).toMatchObject({
      condition: "Stalled",
      observedGeneration: 1,
      message: expect.stringContaining('create container "shop_api_1_n" timed out after 30 s'),
    });
    expect(webStatus(agent)).toMatchObject({ condition: "Ready", observedGeneration: 1 });
    expect(engine.byName("shop_web_1_n").state).toBe("running");
    expect(engine.byName("shop_web_2_n").state).toBe("running");
    expect(() => engine.byName("shop_api_1_n")).toThrow();
    // Settled, so an apply waiting on this node is told about api instead of waiting out its deadline.
    expect(agent.summary(STACK)).toMatchObject({ settled: true, unready: [{ resource: API }] });

    // While the engine still hangs, each retry stalls again and the next one waits twice as long.
    await until(() => log.some((line) => line.includes("shop:container/api failed (retry in 100 ms)")));
    await clock.advance(100);
    await until(() => log.some((line) => line.includes("shop:container/api failed (retry in 200 ms)")));
    expect(hanging.calls.filter((call) => call === "create shop_api_1_n (timed out)")).toHaveLength(2);
    expect(statusOf(agent, API)).toMatchObject({ condition: "Stalled", reason: "EngineTimeout" });

    hanging.hungCreates.clear();
    await clock.advance(200);
    await until(() => statusOf(agent, API)?.condition === "Ready", "api Ready once the engine answers");
    expect(engine.byName("shop_api_1_n").state).toBe("running");
    expect(agent.summary(STACK)).toMatchObject({ settled: true, unready: [] });
    // The retries touched api only: web's containers were created once and never again.
    expect(engine.calls.filter((call) => call.startsWith("create shop_web"))).toEqual([
      "create shop_web_1_n",
      "create shop_web_2_n",
    ]);
  });
});
