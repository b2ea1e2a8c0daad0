// A replica removed by hand (`docker rm -f`) while a rolling recreate replaces it, as the soak of #10
// saw: the engine answers the recreate's remove with "removal already in progress" and keeps the old
// container's name until that removal is done, so the create that follows finds the name taken.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { containerController } from "../../../controllers/container/index.js";
import { specHash } from "../../../controllers/container/spec-hash.js";
import { type AgentBus, NodeAgent } from "../../../src/agent/node-agent.js";
import type { Payload } from "../../../src/bus/message.js";
import type { EngineCallOptions } from "../../../src/drivers/engine.js";
import type { DriftReport, ProgressReport, SliceDocument } from "../../../src/model/wire.js";
import { FakeClock, settle } from "../../support/fake-clock.js";
import { spec } from "../controllers/container/fixtures.js";
import { FakeEngine } from "./fake-engine.js";

class RecordingBus implements AgentBus {
  readonly published: { event: string; payload: unknown }[] = [];
  handle(): () => void {
    return () => {};
  }
  subscribe(): () => void {
    return () => {};
  }
  publish(event: string, payload?: Payload): void {
    this.published.push({ event, payload: JSON.parse(String(payload)) });
  }
  of<T>(event: string): T[] {
    return this.published.filter((p) => p.event === event).map((p) => p.payload as T);
  }
}

/**
 * The fake engine with Docker's answer to a remove racing `docker rm -f`: the container named in
 * `removedByHand` is being removed by someone else when the agent's remove arrives, which returns at
 * once (the driver reads "already in progress" as gone) while the container holds its name for
 * `removalMs` more.
 */
class RacingRemovalEngine extends FakeEngine {
  removedByHand: string | undefined;
  removalMs = 30;

  override async remove(id: string, stopTimeoutSeconds = 0, options: EngineCallOptions = {}): Promise<void> {
    const container = this.containers.get(id);
    if (container?.state === "removing") return;
    if (container && container.name === this.removedByHand) {
      this.removedByHand = undefined;
      container.state = "removing";
      this.emit({ containerId: id, resource: container.resource, action: "kill", time: 0 });
      setTimeout(() => {
        this.containers.delete(id);
        this.emit({
          containerId: id,
          stack: container.stack,
          resource: container.resource,
          action: "destroy",
          time: 0,
        });
      }, this.removalMs);
      return;
    }
    return super.remove(id, stopTimeoutSeconds, options);
  }
}

const STACK = "shop";
const WEB = "container/web";
const NAME = "shop_web_1_n";

function slice(generation: number, round: string): SliceDocument {
  return {
    stack: STACK,
    generation,
    prune: false,
    resources: { [WEB]: { spec: spec("web", { env: { ROUND: round } }), replicas: [1] } },
  };
}

let home: string;
let clock: FakeClock;
let engine: RacingRemovalEngine;
let bus: RecordingBus;
let agent: NodeAgent | undefined;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-recreate-race-"));
  clock = new FakeClock();
  engine = new RacingRemovalEngine(clock);
  bus = new RecordingBus();
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await rm(home, { recursive: true, force: true });
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await clock.advance(20);
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const webStatus = () => agent?.state().stacks[STACK]?.statuses.find((s) => s.resource === WEB);
const running = () => [...engine.containers.values()].filter((c) => c.name === NAME);

describe("NodeAgent — a replica removed by hand during its rolling recreate", () => {
  it("is replaced: the recreate waits for the name, creates the new container, and the resource is Ready", async () => {
    agent = new NodeAgent({
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
    });
    await agent.start();
    await agent.applySlice(slice(1, "1"));
    await until(() => webStatus()?.condition === "Ready", "web Ready at generation 1");
    const old = engine.byName(NAME).id;

    engine.removedByHand = NAME;
    await agent.applySlice(slice(2, "2"));
    await until(
      () =>
        webStatus()?.condition === "Ready" &&
        running()[0]?.hash === specHash(spec("web", { env: { ROUND: "2" } })),
      "web Ready on the new spec",
    );
    await agent.idle();

    expect(engine.containers.has(old)).toBe(false);
    expect(running()).toHaveLength(1);
    expect(running()[0]).toMatchObject({ state: "running" });
    const failures = bus.of<ProgressReport>("apply.progress").filter((report) => !report.ok);
    expect(failures).toEqual([]);
    expect(webStatus()).toMatchObject({ condition: "Ready", observedGeneration: 2 });

    // Removed by hand once the recreate is done: drift, reported and healed.
    const current = engine.byName(NAME).id;
    engine.containers.delete(current);
    engine.emit({
      containerId: current,
      stack: STACK,
      resource: "web",
      action: "destroy",
      time: clock.now(),
    });
    await until(() => bus.of<DriftReport>("drift").length === 1 && running().length === 1, "drift healed");
    expect(bus.of<DriftReport>("drift")[0]).toMatchObject({
      resource: WEB,
      differences: [{ action: "create", target: NAME, reason: "missing: removed outside TreeScale" }],
      healing: true,
    });
  });
});
