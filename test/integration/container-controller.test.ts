// The container controller against the real dockerd: recreate orders and failure handling.
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ActionOutcome, executeContainerPlan, type ProgressSink } from "../../controllers/container.js";
import { DockerEngine } from "../../src/drivers/docker.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import { planContainers } from "../../src/plan/container-plan.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  uniqueNodeName,
} from "../support/docker.js";
import { freePort } from "../support/net.js";
import { spec } from "../unit/plan/fixtures.js";

const docker = new Docker();
const engine = new DockerEngine();
const node = uniqueNodeName("ctl");
const quiet: ProgressSink = { started: () => undefined, finished: () => undefined, pulling: () => undefined };
const options = { engine, progress: quiet, generation: 1, concurrency: 4, stopTimeoutSeconds: 0 };

const server = (overrides: Partial<ContainerSpec> = {}) =>
  spec("web", { image: TEST_IMAGE, command: ["httpd", "-f", "-p", "80", "-h", "/www"], ...overrides });

async function converge(desired: ContainerSpec): Promise<ActionOutcome[]> {
  const observed = await engine.listOwned(node);
  const plan = planContainers({
    desired: { web: desired },
    nodes: [{ name: node, tags: [] }],
    observed,
    inventories: {},
    prune: false,
  });
  return executeContainerPlan(plan.actions, options);
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
    expect(after[0]).toMatchObject({ name: `${node}-web-1`, state: "running" });
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
});
