// The agent in-process against the real dockerd and its real event stream; the bus is a
// recorder here (the multi-process fleet tests use real nodes).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { containerController } from "../../../controllers/container/index.js";
import { type AgentBus, NodeAgent } from "../../../src/agent/node-agent.js";
import type { Message, Payload } from "../../../src/bus/message.js";
import { DockerEngine } from "../../../src/drivers/docker.js";
import { DockerEventSource } from "../../../src/drivers/docker-events.js";
import type { EngineCallOptions } from "../../../src/drivers/engine.js";
import { containerName } from "../../../src/model/labels.js";
import type { DriftReport, ProgressReport, SliceDocument } from "../../../src/model/wire.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  replacementGapMs,
  TEST_IMAGE,
  uniqueNodeName,
} from "../../support/docker.js";
import { pollUntil } from "../../support/poll.js";
import { containerSpec as spec } from "../../support/specs.js";

const docker = new Docker();

class RecordingBus implements AgentBus {
  readonly published: { event: string; payload: unknown; at: number }[] = [];
  readonly handlers = new Map<string, (request: Message) => Payload | Promise<Payload>>();
  #waiters: (() => void)[] = [];
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    this.handlers.set(event, handler);
    return () => this.handlers.delete(event);
  }
  /** Nothing is published to an agent alone: it has no tree around it. */
  subscribe(): () => void {
    return () => {};
  }
  publish(event: string, payload?: Payload): void {
    this.published.push({ event, payload: JSON.parse(String(payload)), at: Date.now() });
    for (const wake of this.#waiters.splice(0)) wake();
  }
  async next<T>(
    event: string,
    predicate: (payload: T) => boolean,
    timeoutMs = 10_000,
  ): Promise<{ payload: T; at: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.published.find((p) => p.event === event && predicate(p.payload as T));
      if (found) return found as { payload: T; at: number };
      if (Date.now() > deadline) throw new Error(`no ${event} event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

const sleeper = (name: string, replicas: number, heal = true) =>
  spec(name, { image: TEST_IMAGE, command: ["sleep", "3600"], replicas, heal });

const STACK = "it";
const nameOf = (node: string, resource: string, replica: number) =>
  containerName(STACK, node, resource, replica);

function slice(
  generation: number,
  containers: Record<string, { replicas: number; heal?: boolean }>,
): SliceDocument {
  return {
    stack: STACK,
    generation,
    prune: true,
    resources: Object.fromEntries(
      Object.entries(containers).map(([name, c]) => [
        `container/${name}`,
        {
          spec: sleeper(name, c.replicas, c.heal ?? true),
          replicas: Array.from({ length: c.replicas }, (_, i) => i + 1),
        },
      ]),
    ),
  };
}

async function running(node: string, resource: string): Promise<string[]> {
  const list = await docker.listContainers({
    filters: { label: [`treescale.node=${node}`, `treescale.resource=${resource}`], status: ["running"] },
  });
  return list.map((c) => c.Names[0]!.slice(1)).sort();
}

let home: string;
const agents: NodeAgent[] = [];
const nodes: string[] = [];

/**
 * The Docker driver, with a `docker rm -f` of `victim` begun just before the agent's own remove of
 * it: the engine answers that remove "removal already in progress" while the old container still
 * holds its name, as in the soak of #10.
 */
class RemovedByHandEngine extends DockerEngine {
  victim: string | undefined;

  override async remove(id: string, stopTimeoutSeconds: number, options: EngineCallOptions = {}) {
    if (id === this.victim) {
      this.victim = undefined;
      void docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined);
      await sleep(5);
    }
    return super.remove(id, stopTimeoutSeconds, options);
  }
}

function startAgent(
  node: string,
  bus: RecordingBus,
  heal = true,
  engine = new DockerEngine(),
): Promise<NodeAgent> {
  const agent = new NodeAgent({
    name: node,
    tags: [],
    home,
    controllers: [
      containerController({
        drivers: () => ({ engine, events: new DockerEventSource() }),
        stopTimeoutSeconds: 0,
      }),
    ],
    bus,
    heal,
  });
  agents.push(agent);
  return agent.start().then(() => agent);
}

beforeAll(async () => {
  await ensureTestImage();
  home = await mkdtemp(join(tmpdir(), "treescale-agent-"));
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});

afterAll(async () => {
  await Promise.all(nodes.map(removeContainersOfNode));
  await rm(home, { recursive: true, force: true });
});

describe("NodeAgent (real dockerd)", () => {
  it("converges a slice, reports Ready statuses and settles", async () => {
    const node = uniqueNodeName("agent");
    nodes.push(node);
    const bus = new RecordingBus();
    const agent = await startAgent(node, bus);
    expect(await agent.applySlice(slice(1, { web: { replicas: 2 } }))).toEqual({
      accepted: true,
      generation: 1,
    });
    await bus.next<{ settled: boolean }>("agent.status", (p) => p.settled);
    expect(await running(node, "web")).toEqual([nameOf(node, "web", 1), nameOf(node, "web", 2)]);
    expect(agent.state().stacks[STACK]?.statuses).toMatchObject([
      { resource: "container/web", condition: "Ready", reason: "Converged", observedGeneration: 1, ready: 2 },
    ]);
    // The whole plan is announced before its first action begins, in the words its progress uses.
    const events = bus.published.filter((p) => p.event.startsWith("apply."));
    expect(events[0]).toMatchObject({
      event: "apply.planned",
      payload: {
        node,
        stack: STACK,
        generation: 1,
        resource: "container/web",
        drift: false,
        actions: [
          { action: "create", target: nameOf(node, "web", 1), replica: 1 },
          { action: "create", target: nameOf(node, "web", 2), replica: 2 },
        ],
      },
    });
    const finished = events.filter((p) => p.event === "apply.progress").map((p) => p.payload);
    expect(finished).toHaveLength(2);
    expect(finished).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "create", replica: 1, ok: true }),
        expect.objectContaining({ action: "create", replica: 2, ok: true }),
      ]),
    );
    expect(await agent.applySlice(slice(0, {}))).toMatchObject({ accepted: false });
  });

  it("reports docker rm -f as drift and replaces the container within a second", async () => {
    const node = uniqueNodeName("drift");
    nodes.push(node);
    const bus = new RecordingBus();
    const agent = await startAgent(node, bus);
    await agent.applySlice(slice(1, { web: { replicas: 1 } }));
    await bus.next<{ settled: boolean }>("agent.status", (p) => p.settled);
    const [victim] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
    const removedAt = Date.now();
    await docker.getContainer(victim!.Id).remove({ force: true });
    const drift = await bus.next<DriftReport>("drift", (p) => p.resource === "container/web");
    expect(drift.payload).toMatchObject({
      node,
      stack: STACK,
      resource: "container/web",
      healing: true,
      differences: [
        { action: "create", target: nameOf(node, "web", 1), reason: "missing: removed outside TreeScale" },
      ],
    });
    // What the agent controls, timed by the engine: its event → the drift report, and the
    // removal → the replacement's start. The bounds catch a heal left to the periodic resync on a
    // loaded machine; the sub-second figures are `npm run bench -- drift`'s.
    expect(drift.payload.changedAt).toBeDefined();
    expect(drift.payload.detectionMs).toBeLessThan(5000);
    const replaced = await pollUntil(
      () => running(node, "web"),
      (names) => names.length === 1,
      5000,
    );
    expect(replaced).toEqual([nameOf(node, "web", 1)]);
    const events = await engineEvents(node, removedAt - 1000, Date.now() + 200);
    expect(replacementGapMs(events, victim!.Id)).toBeLessThan(5000);

    // Removed by hand again at once: put back at once again (no crash-loop backoff for removals).
    const [again] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
    const againAt = Date.now();
    await docker.getContainer(again!.Id).remove({ force: true });
    await pollUntil(
      () => running(node, "web"),
      (names) => names.length === 1,
      5000,
    );
    const later = await engineEvents(node, againAt - 1000, Date.now() + 200);
    expect(replacementGapMs(later, again!.Id)).toBeLessThan(5000);
  });

  it("a replica removed by hand during its rolling recreate is replaced, and the resource converges", async () => {
    const node = uniqueNodeName("race");
    nodes.push(node);
    const bus = new RecordingBus();
    const engine = new RemovedByHandEngine();
    const agent = await startAgent(node, bus, true, engine);
    const round = (generation: number): SliceDocument => ({
      stack: STACK,
      generation,
      prune: true,
      resources: {
        "container/web": {
          spec: { ...sleeper("web", 1), env: { ROUND: String(generation) } },
          replicas: [1],
        },
      },
    });
    await agent.applySlice(round(1));
    await bus.next<{ settled: boolean }>("agent.status", (p) => p.settled);
    const [old] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
    engine.victim = old!.Id;

    await agent.applySlice(round(2));
    await bus.next<{ generation: number; settled: boolean }>(
      "agent.status",
      (p) => p.generation === 2 && p.settled,
    );
    expect(engine.victim).toBeUndefined();
    expect(agent.state().stacks[STACK]?.statuses).toMatchObject([
      { resource: "container/web", condition: "Ready", observedGeneration: 2, ready: 1 },
    ]);
    const progress = bus.published.filter((p) => p.event === "apply.progress").map((p) => p.payload);
    expect((progress as ProgressReport[]).filter((report) => !report.ok)).toEqual([]);
    expect(await running(node, "web")).toEqual([nameOf(node, "web", 1)]);
    const [replacement] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
    expect(replacement!.Id).not.toBe(old!.Id);
    const inspected = await docker.getContainer(replacement!.Id).inspect();
    expect(inspected.Config.Env).toContain("ROUND=2");
  });

  it("a container that keeps exiting is restarted with growing pauses and stalls as CrashLoopBackOff", async () => {
    const node = uniqueNodeName("crash");
    nodes.push(node);
    const bus = new RecordingBus();
    const agent = await startAgent(node, bus);
    const appliedAt = Date.now();
    const crasher = spec("crasher", { image: TEST_IMAGE, command: ["sh", "-c", "exit 3"] });
    await agent.applySlice({
      stack: STACK,
      generation: 1,
      prune: false,
      resources: { "container/crasher": { spec: crasher, replicas: [1] } },
    });
    const stalled = await bus.next<{
      settled: boolean;
      status: { condition: string; reason: string; message: string };
    }>(
      "agent.status",
      // Three heals or more: a loaded machine may merge two exits into one status change.
      (p) => p.status.reason === "CrashLoopBackOff" && /restarted ([3-9]|\d\d) times/.test(p.status.message),
      30_000,
    );
    expect(stalled.payload.settled).toBe(true);
    expect(stalled.payload.status.condition).toBe("Stalled");
    expect(stalled.payload.status.message).toMatch(/restarted \d+ times, next try in \d+ s/);
    // The engine's event log can lag a loaded machine's status: read it until it has caught up.
    const starts = await pollUntil(
      async () =>
        (await engineEvents(node, appliedAt - 1000, Date.now() + 200))
          .filter((e) => e.action === "start")
          .map((e) => e.timeMs),
      (seen) => seen.length >= 4,
      5000,
    );
    // The apply's start and an immediate heal, then heals 1 s and 2 s apart (timed by the engine).
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(900);
    expect(starts[3]! - starts[2]!).toBeGreaterThanOrEqual(1900);
  }, 60_000);

  it("with heal off, reports drift and leaves it alone", async () => {
    const node = uniqueNodeName("noheal");
    nodes.push(node);
    const bus = new RecordingBus();
    const agent = await startAgent(node, bus);
    await agent.applySlice(slice(1, { web: { replicas: 1, heal: false } }));
    await bus.next<{ settled: boolean }>("agent.status", (p) => p.settled);
    const [victim] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
    await docker.getContainer(victim!.Id).stop({ t: 0 });
    const drift = await bus.next<DriftReport>("drift", (p) => p.resource === "container/web");
    expect(drift.payload).toMatchObject({ healing: false, differences: [{ action: "start" }] });
    await bus.next<{ status: { reason: string } }>(
      "agent.status",
      (p) => p.status.reason === "DriftNotHealed",
    );
    expect(await running(node, "web")).toEqual([]);
    expect(agent.state().stacks[STACK]?.statuses[0]).toMatchObject({
      condition: "Stalled",
      reason: "DriftNotHealed",
    });
  });

  it("a restarted agent converges the slice it kept on disk", async () => {
    const node = uniqueNodeName("restart");
    nodes.push(node);
    const first = await startAgent(node, new RecordingBus());
    const bus = new RecordingBus();
    await first.applySlice(slice(3, { web: { replicas: 1 }, api: { replicas: 1 } }));
    await first.stop();
    await removeContainersOfNode(node);
    const second = await startAgent(node, bus);
    await bus.next<{ settled: boolean; generation: number }>(
      "agent.status",
      (p) => p.settled && p.generation === 3,
    );
    expect(second.state().stacks[STACK]?.slice.generation).toBe(3);
    expect(await running(node, "api")).toEqual([nameOf(node, "api", 1)]);
  });
});
