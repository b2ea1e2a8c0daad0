// The container controller against the real dockerd: recreate orders, rolling waves judged by
// health checks, and failure handling.
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerAction } from "../../controllers/container/actions.js";
import { containerController } from "../../controllers/container/index.js";
import { DockerEngine } from "../../src/drivers/docker.js";
import { DockerEventSource } from "../../src/drivers/docker-events.js";
import { containerName } from "../../src/model/labels.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import type { Outcome, ProgressSink, SliceEntry } from "../../src/reconcile/controller.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  uniqueNodeName,
} from "../support/docker.js";
import { freePort } from "../support/net.js";
import { pollUntil } from "../support/poll.js";
import { containerSpec as spec } from "../support/specs.js";

const docker = new Docker();
const engine = new DockerEngine();
const node = uniqueNodeName("ctl");
const STACK = "ctl";
const quiet: ProgressSink<ContainerAction> = {
  started: () => undefined,
  finished: () => undefined,
  activity: () => undefined,
};
const controller = containerController({
  drivers: () => ({ engine, events: new DockerEventSource() }),
  concurrency: 4,
  stopTimeoutSeconds: 0,
});
const runtime = await controller.runtime({ node, home: "/nonexistent" });

const server = (overrides: Partial<ContainerSpec> = {}) =>
  spec("web", { image: TEST_IMAGE, command: ["httpd", "-f", "-p", "80", "-h", "/www"], ...overrides });

/** Plans the node's `web` against the engine and acts, as the agent does. */
async function converge(
  desired: ContainerSpec,
  previous: ContainerSpec | undefined = undefined,
): Promise<Outcome<ContainerAction>[]> {
  const observed = (await engine.listOwned(node)).filter((c) => c.stack === STACK);
  const replicas = Array.from({ length: desired.replicas }, (_, i) => i + 1);
  const plan = controller.plan({
    node,
    stack: STACK,
    entries: { web: { spec: desired, replicas } },
    observed,
    inventory: {},
    prune: false,
  });
  const before: Record<string, SliceEntry> = previous ? { web: { spec: previous, replicas } } : {};
  return runtime.execute(plan.actions, {
    node,
    stack: STACK,
    generation: 1,
    progress: quiet,
    release: async () => () => {},
    signal: new AbortController().signal,
    previous: before,
  });
}

async function webContainers(): Promise<{ id: string; name: string; state: string }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${node}`] } });
  return list.map((c) => ({ id: c.Id, name: c.Names[0]!.slice(1), state: c.State }));
}

beforeAll(() => ensureTestImage());
afterAll(() => removeContainersOfNode(node));

describe("container controller (real dockerd)", () => {
  it("start-first: the new container starts before the old one goes, then takes its name", async () => {
    const first = server({ update: { maxParallel: 1, order: "start-first", failureAction: "pause" } });
    expect((await converge(first)).every((o) => o.ok)).toBe(true);
    const [before] = await webContainers();
    const since = Date.now();
    const outcomes = await converge({ ...first, env: { V: "2" } });
    expect(outcomes).toMatchObject([{ ok: true, action: { type: "recreate" } }]);
    const after = await webContainers();
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: containerName(STACK, node, "web", 1), state: "running" });
    expect(after[0]!.id).not.toBe(before!.id);
    const events = await engineEvents(node, since, Date.now() + 200);
    const newStarted = events.findIndex((e) => e.id === after[0]!.id && e.action === "start");
    const oldStopped = events.findIndex(
      (e) => e.id === before!.id && (e.action === "kill" || e.action === "die"),
    );
    expect(newStarted).toBeGreaterThanOrEqual(0);
    expect(oldStopped).toBeGreaterThan(newStarted);
  });

  it("start-first with a fixed host port fails cleanly and leaves the old container running", async () => {
    await removeContainersOfNode(node);
    const port = await freePort();
    const first = server({
      ports: [{ hostIp: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
      update: { maxParallel: 1, order: "start-first", failureAction: "pause" },
    });
    expect((await converge(first)).every((o) => o.ok)).toBe(true);
    const [before] = await webContainers();
    const [outcome] = await converge({ ...first, env: { V: "2" } });
    expect(outcome).toMatchObject({ ok: false });
    expect(outcome?.ok === false && outcome.error).toMatch(/start-first.*old one keeps running.*stop-first/);
    expect(await webContainers()).toEqual([{ ...before!, state: "running" }]);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
  });

  it("a missing image fails its action with IMAGE_UNAVAILABLE and leaves a recreate's old container alone", async () => {
    await removeContainersOfNode(node);
    expect((await converge(server())).every((o) => o.ok)).toBe(true);
    const [before] = await webContainers();
    const [outcome] = await converge(server({ image: "local/not-here:9" }));
    expect(outcome).toMatchObject({ ok: false, code: "IMAGE_UNAVAILABLE" });
    expect(outcome?.ok === false && outcome.error).toContain("left running");
    expect(await webContainers()).toEqual([before]);
  });

  it("max_parallel = 1: replicas are recreated one at a time, each healthy before the next starts", async () => {
    await removeContainersOfNode(node);
    const healthy = {
      replicas: 3,
      healthcheck: { test: ["CMD", "true"], intervalMs: 200, retries: 1 },
      update: { maxParallel: 1, order: "stop-first" as const, failureAction: "pause" as const },
    };
    expect((await converge(server(healthy))).every((o) => o.ok)).toBe(true);
    // The first replicas' own health events must not count as the rollout's.
    await pollUntil(
      async () =>
        (await docker.listContainers({ filters: { label: [`treescale.node=${node}`], health: ["healthy"] } }))
          .length,
      (healthyCount) => healthyCount === 3,
      10_000,
    );
    const since = Date.now();
    const outcomes = await converge(server({ ...healthy, env: { V: "2" } }));
    expect(outcomes.filter((o) => o.ok && o.action.type === "recreate")).toHaveLength(3);
    // Each new replica turns healthy before the next old one is stopped. The engine's event log can
    // lag a loaded machine: read it until it has caught up.
    const steps = async () => {
      const order = (await engineEvents(node, since, Date.now() + 200))
        .filter((e) => e.action === "kill" || e.action.startsWith("health_status: healthy"))
        .map((e) => (e.action === "kill" ? "stop" : "healthy"));
      return order.filter((step, i) => step !== order[i - 1]);
    };
    expect(await pollUntil(steps, (seen) => seen.length >= 6, 20_000)).toEqual([
      "stop",
      "healthy",
      "stop",
      "healthy",
      "stop",
      "healthy",
    ]);
  });

  it("failure_action = rollback: an unhealthy first wave is put back on the previous spec and the rest are left alone", async () => {
    await removeContainersOfNode(node);
    const policy = { maxParallel: 1, order: "start-first" as const, failureAction: "rollback" as const };
    const good = server({
      replicas: 3,
      env: { V: "1" },
      healthcheck: { test: ["CMD", "true"], intervalMs: 200, retries: 1 },
      update: policy,
    });
    expect((await converge(good)).every((o) => o.ok)).toBe(true);
    const bad = {
      ...good,
      env: { V: "2" },
      healthcheck: { test: ["CMD", "false"], intervalMs: 200, retries: 1 },
    };
    const outcomes = await converge(bad, good);
    expect(outcomes.filter((o) => !o.ok).map((o) => (o.ok ? "" : o.code))).toEqual([
      "ROLLED_BACK",
      "UPDATE_PAUSED",
      "UPDATE_PAUSED",
    ]);
    const versions = await Promise.all(
      (await webContainers()).map(async (c) => {
        const info = await docker.getContainer(c.id).inspect();
        return info.Config.Env?.find((e) => e.startsWith("V="));
      }),
    );
    expect(versions).toEqual(["V=1", "V=1", "V=1"]);
  });
});
