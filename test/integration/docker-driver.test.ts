// The Docker driver against the real dockerd, with the locally built busybox image.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerEngine } from "../../src/drivers/docker.js";
import type { CreateContainerRequest } from "../../src/drivers/engine.js";
import { ContainerNameConflictError, EngineRequestError } from "../../src/drivers/engine-errors.js";
import { EngineUnreachableError, ImageUnavailableError } from "../../src/errors.js";
import { containerName, LABELS } from "../../src/model/labels.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";
import { freePort } from "../support/net.js";
import { eventually } from "../support/poll.js";
import { containerSpec } from "../support/specs.js";

const IMAGE = TEST_IMAGE;
const STACK = "driver";
const docker = new Dockerode();

function spec(name: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return containerSpec(name, { image: IMAGE, command: ["sleep", "300"], ...overrides });
}

// The driver stores hashes as opaque labels; how the planner computes them is not its concern.
const specHash = (desired: ContainerSpec) => `hash-of-${desired.name}-${desired.command?.[0] ?? ""}`;
const fieldHashes = (desired: ContainerSpec) => ({ image: "aaaaaaaa", command: desired.command?.[0] ?? "" });

function request(node: string, desired: ContainerSpec, replica = 0): CreateContainerRequest {
  return {
    name: containerName(STACK, node, desired.name, replica),
    node,
    stack: STACK,
    replica,
    spec: desired,
    hash: specHash(desired),
    fieldHashes: fieldHashes(desired),
    generation: 3,
  };
}

describe("DockerEngine against dockerd", () => {
  const engine = new DockerEngine();
  const node = uniqueNodeName("driver");
  const strangers: string[] = [];
  let port = 0;
  let web = spec("web");

  beforeAll(async () => {
    await ensureTestImage();
    await engine.ping();
  });

  afterAll(async () => {
    // Containers without our node label (the strangers) are not found by node, so go by id.
    await removeContainersOfNode(node);
    await Promise.all(
      strangers.map((id) =>
        docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  });

  it("creates and starts busybox httpd with a port on 127.0.0.1 that serves a page", async () => {
    port = await freePort();
    web = spec("web", {
      command: ["httpd", "-f", "-p", "80", "-h", "/www"],
      ports: [{ hostIp: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
      env: { GREETING: "hi there" },
      labels: { team: "edge" },
      restart: "on-failure",
      memoryBytes: 32 * 1024 * 1024,
      cpus: 0.5,
    });
    const id = await engine.create(request(node, web));
    await engine.start(id);

    const body = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      return response.ok ? response.text() : undefined;
    });
    expect(body).toBe("hello from treescale\n");

    const inspected = await docker.getContainer(id).inspect();
    expect(inspected.Config.Env).toContain("GREETING=hi there");
    expect(inspected.Config.Labels).toMatchObject({
      team: "edge",
      [LABELS.generation]: "3",
      [LABELS.stack]: STACK,
    });
    expect(inspected.HostConfig.PortBindings).toEqual({
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: `${port}` }],
    });
    expect(inspected.HostConfig).toMatchObject({
      Memory: 33_554_432,
      NanoCpus: 500_000_000,
      RestartPolicy: { Name: "on-failure" },
    });
  });

  it("lists the owned container with every label decoded and its state", async () => {
    const owned = await engine.listOwned(node);
    const listed = owned.find((c) => c.name === containerName(STACK, node, "web", 0));
    expect(listed).toMatchObject({
      node,
      resource: "web",
      replica: 0,
      hash: specHash(web),
      fieldHashes: fieldHashes(web),
      image: IMAGE,
      state: "running",
    } satisfies Partial<ObservedContainer>);
    expect(listed?.stack).toBe(STACK);
    expect(listed?.id).toMatch(/^[0-9a-f]{64}$/);
    expect(Math.abs(Date.parse(listed?.createdAt ?? "") - Date.now())).toBeLessThan(10 * 60_000);
    expect(listed).not.toHaveProperty("health");
  });

  it("never lists containers without the managed label or of another node", async () => {
    const unlabeled = await docker.createContainer({ Image: IMAGE, Cmd: ["sleep", "300"] });
    const nodeOnly = await docker.createContainer({
      Image: IMAGE,
      Cmd: ["sleep", "300"],
      Labels: { [LABELS.node]: node },
    });
    strangers.push(unlabeled.id, nodeOnly.id);
    const otherNode = uniqueNodeName("driver-other");
    const theirs = await engine.create(request(otherNode, spec("web")));
    strangers.push(theirs);

    const ids = (await engine.listOwned(node)).map((c) => c.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).not.toContain(unlabeled.id);
    expect(ids).not.toContain(nodeOnly.id);
    expect(ids).not.toContain(theirs);
    expect((await engine.listOwned(otherNode)).map((c) => c.id)).toEqual([theirs]);
  });

  it("refuses a second container of the same name with a typed error naming it", async () => {
    const name = containerName(STACK, node, "web", 0);
    const error = await engine.create(request(node, spec("web"))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContainerNameConflictError);
    expect(error).toMatchObject({ container: name, code: "CONTAINER_NAME_CONFLICT" });
    expect((error as Error).message).toContain(`"${name}"`);
  });

  it("treats starting a running container as done", async () => {
    const [web] = (await engine.listOwned(node)).filter((c) => c.resource === "web");
    expect(web).toBeDefined();
    await expect(engine.start(web!.id)).resolves.toBeUndefined();
  });

  it("removes a running container, and removing it again is not an error", async () => {
    const id = await engine.create(request(node, spec("sleeper")));
    await engine.start(id);
    // busybox sleep as PID 1 ignores SIGTERM, so this also exercises the kill after the grace period.
    await engine.remove(id, 1);
    await expect(docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(engine.remove(id, 1)).resolves.toBeUndefined();
    await expect(engine.remove("0".repeat(64), 1)).resolves.toBeUndefined();
    expect((await engine.listOwned(node)).map((c) => c.id)).not.toContain(id);
  });

  it("remove racing a docker rm -f returns only once the name is free: a create of the same name succeeds", async () => {
    let otherRemoved = 0;
    // The race is the engine's to decide: several rounds, so that ours meets the other removal midway.
    for (let round = 0; round < 6; round++) {
      const racer = request(node, spec(`racer${round}`));
      const id = await engine.create(racer);
      await engine.start(id);
      const other = docker
        .getContainer(id)
        .remove({ force: true })
        .then(
          () => "removed",
          (error: { statusCode?: number; message?: string }) =>
            /already in progress/.test(error.message ?? "") ? "in progress" : `failed ${error.statusCode}`,
        );
      await engine.remove(id, 0);
      const again = await engine.create(racer);
      expect(again).not.toBe(id);
      const otherResult = await other;
      expect(otherResult).not.toMatch(/^failed/);
      if (otherResult === "removed") otherRemoved++;
      await engine.remove(again, 0);
    }
    // The other removal won at least once (ours then met it in progress, or gone), else nothing was raced.
    expect(otherRemoved).toBeGreaterThan(0);
  }, 60_000);

  it("removes a container that was created and never started", async () => {
    const id = await engine.create(request(node, spec("idle")));
    await engine.remove(id, 1);
    await expect(docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("reports health once Docker runs the health check", async () => {
    const checked = spec("checked", {
      healthcheck: { test: ["CMD", "true"], intervalMs: 200, timeoutMs: 1000, retries: 1 },
    });
    const id = await engine.create(request(node, checked));
    await engine.start(id);
    const healthy = await eventually(async () => {
      const found = (await engine.listOwned(node)).find((c) => c.id === id);
      return found?.health === "healthy" ? found : undefined;
    });
    expect(healthy).toMatchObject({ resource: "checked", state: "running", health: "healthy" });
    const inspected = await docker.getContainer(id).inspect();
    expect(inspected.Config.Healthcheck).toMatchObject({ Test: ["CMD", "true"], Interval: 200_000_000 });
  });

  it("knows which images it has", async () => {
    expect(await engine.hasImage(IMAGE)).toBe(true);
    expect(await engine.hasImage("local/treescale-missing:0")).toBe(false);
  });

  it("reports a refused read in the engine's own words, with its status", async () => {
    const error = await engine.hasImage("Not A Reference").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineRequestError);
    expect((error as EngineRequestError).statusCode).toBe(400);
    expect((error as Error).message).toContain("invalid reference format");
    expect((error as Error).message).not.toContain("HTTP code");
  });

  it("fails a pull of an image no registry supplies with ImageUnavailableError naming it", async () => {
    const reference = "local/treescale-missing:0";
    const events: unknown[] = [];
    const error = await engine.pullImage(reference, (p) => events.push(p)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageUnavailableError);
    expect(error).toMatchObject({ image: reference, code: "IMAGE_UNAVAILABLE" });
    expect((error as Error).message).toMatch(
      /^image "local\/treescale-missing:0" is not on this engine and could not be pulled: .+\. Build or load it first/,
    );
    // The engine's own words, without dockerode's "(HTTP code ...)" wrapper.
    expect((error as Error).message).not.toContain("HTTP code");
  });

  it("fails create of a container whose image is missing with ImageUnavailableError", async () => {
    const error = await engine
      .create(request(node, spec("ghost", { image: "local/treescale-missing:0" })))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageUnavailableError);
    expect((error as Error).message).toContain(`"${containerName(STACK, node, "ghost", 0)}"`);
  });

  it("raises EngineUnreachableError naming the socket when no engine listens there", async () => {
    const socketPath = `/tmp/treescale-no-docker-${randomBytes(4).toString("hex")}.sock`;
    const nowhere = new DockerEngine({ socketPath });
    const error = await nowhere.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineUnreachableError);
    expect((error as Error).message).toContain(socketPath);
    expect((error as Error).message).toContain("is dockerd running?");
    expect((error as Error).cause).toMatchObject({ code: "ENOENT" });
    await expect(nowhere.listOwned(node)).rejects.toBeInstanceOf(EngineUnreachableError);
    await expect(nowhere.pullImage(IMAGE, () => undefined)).rejects.toBeInstanceOf(EngineUnreachableError);
    await expect(nowhere.remove("abc", 1)).rejects.toBeInstanceOf(EngineUnreachableError);
  });

  it("reads DOCKER_HOST, and explicit options win over it", async () => {
    const deadPort = await freePort();
    const saved = process.env.DOCKER_HOST;
    let fromEnv: DockerEngine;
    let explicit: DockerEngine;
    try {
      process.env.DOCKER_HOST = `tcp://127.0.0.1:${deadPort}`;
      fromEnv = new DockerEngine();
      // docker-modem merges DOCKER_HOST into explicit options; the driver must not let it.
      explicit = new DockerEngine({ socketPath: "/var/run/docker.sock" });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
    await expect(fromEnv.ping()).rejects.toThrowError(`tcp://127.0.0.1:${deadPort}`);
    await expect(explicit.ping()).resolves.toBeUndefined();
  });

  it("raises EngineUnreachableError naming host and port when nothing listens on tcp", async () => {
    const port = await freePort();
    const error = await new DockerEngine({ host: "127.0.0.1", port }).ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineUnreachableError);
    expect((error as Error).message).toContain(`tcp://127.0.0.1:${port}`);
  });
});
