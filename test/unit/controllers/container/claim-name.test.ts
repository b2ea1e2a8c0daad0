import { describe, expect, it } from "vitest";
import { createClaimingName, renameClaimingName } from "../../../../controllers/container/claim-name.js";
import { fieldHashes, specHash } from "../../../../controllers/container/spec-hash.js";
import type { CreateContainerRequest } from "../../../../src/drivers/engine.js";
import { ContainerNameConflictError } from "../../../../src/drivers/engine-errors.js";
import type { ContainerSpec } from "../../../../src/model/resources.js";
import { FakeClock } from "../../../support/fake-clock.js";
import { FakeEngine } from "../../agent/fake-engine.js";
import { spec } from "./fixtures.js";

const NODE = "n";
const NAME = "shop_web_1_n";
const OLD = spec("web", { env: { ROUND: "1" } });
const NEW = spec("web", { env: { ROUND: "2" } });

function request(s: ContainerSpec, overrides: Partial<CreateContainerRequest> = {}): CreateContainerRequest {
  return {
    name: NAME,
    node: NODE,
    stack: "shop",
    replica: 1,
    spec: s,
    hash: specHash(s),
    fieldHashes: fieldHashes(s),
    generation: 2,
    ...overrides,
  };
}

async function setup() {
  const engine = new FakeEngine(new FakeClock());
  const removed: string[] = [];
  const options = {
    engine,
    signal: new AbortController().signal,
    stopTimeoutSeconds: 0,
    pollMs: 1,
    removeHolder: async (id: string) => {
      removed.push(id);
      await engine.remove(id);
    },
  };
  return { engine, removed, options };
}

describe("createClaimingName", () => {
  it("creates at once when the name is free", async () => {
    const { engine, options } = await setup();
    const id = await createClaimingName(request(NEW), options);
    expect(engine.containers.get(id)).toMatchObject({ name: NAME, hash: specHash(NEW) });
    expect(engine.calls).toEqual([`create ${NAME}`]);
  });

  it("waits for a removal someone else began (docker rm -f) to free the name, then creates", async () => {
    const { engine, removed, options } = await setup();
    const old = await engine.create(request(OLD));
    engine.containers.get(old)!.state = "removing";
    setTimeout(() => engine.containers.delete(old), 20);
    const id = await createClaimingName(request(NEW, {}), { ...options, replacing: old });
    expect(id).not.toBe(old);
    expect(engine.containers.get(id)).toMatchObject({ name: NAME, hash: specHash(NEW) });
    expect(removed).toEqual([]);
  });

  it("renames a start-first replacement once the old container, removed by someone else, lets go of the name", async () => {
    const { engine, removed, options } = await setup();
    const old = await engine.create(request(OLD));
    const next = await engine.create(request(NEW, { name: `${NAME}-next` }));
    engine.containers.get(old)!.state = "removing";
    setTimeout(() => engine.containers.delete(old), 20);
    await renameClaimingName(next, request(NEW), { ...options, replacing: old });
    expect(engine.containers.get(next)).toMatchObject({ name: NAME });
    expect(removed).toEqual([]);
  });

  it("adopts a container of ours for this replica and spec that holds the name (a create whose call failed)", async () => {
    const { engine, removed, options } = await setup();
    const made = await engine.create(request(NEW));
    engine.calls.length = 0;
    expect(await createClaimingName(request(NEW), options)).toBe(made);
    expect(engine.calls).toEqual([`create ${NAME}`, "list"]);
    expect(removed).toEqual([]);
  });

  it("replaces a container of ours for this replica on another spec, never the one the recreate replaces by adoption", async () => {
    const { engine, removed, options } = await setup();
    const stale = await engine.create(request(OLD));
    const id = await createClaimingName(request(NEW), options);
    expect(removed).toEqual([stale]);
    expect(engine.containers.get(id)).toMatchObject({ name: NAME, hash: specHash(NEW) });

    // Same spec, but the container being replaced (its state "dead"): replaced, not adopted.
    const dead = await engine.create(request(NEW, { name: "shop_web_2_n", replica: 2 }));
    engine.containers.get(dead)!.state = "dead";
    const next = await createClaimingName(request(NEW, { name: "shop_web_2_n", replica: 2 }), {
      ...options,
      replacing: dead,
    });
    expect(next).not.toBe(dead);
    expect(removed).toEqual([stale, dead]);
  });

  it("never touches a container it did not create: the engine's conflict stands", async () => {
    const { engine, removed, options } = await setup();
    // Another node's label: not among this node's owned containers, as a stranger's would not be.
    await engine.create(request(OLD, { node: "stranger" }));
    const failure = await createClaimingName(request(NEW), options).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ContainerNameConflictError);
    expect(removed).toEqual([]);
    expect(engine.calls.filter((call) => call.startsWith("create"))).toHaveLength(3);
  });

  it("says a name held by its own container still being removed is TreeScale's, after the grace period", async () => {
    const { engine, options } = await setup();
    const stuck = await engine.create(request(OLD));
    engine.containers.get(stuck)!.state = "removing";
    const failure = await createClaimingName(request(NEW), {
      ...options,
      removeHolder: async () => undefined,
      removalGraceMs: 30,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ContainerNameConflictError);
    expect(String(failure)).toMatch(/TreeScale's own container .* \(removing\) still holds the name/);
    expect(String(failure)).not.toMatch(/did not create/);
  });

  it("names the resource when another resource's container of ours holds the name", async () => {
    const { engine, removed, options } = await setup();
    await engine.create(request(spec("api"), { replica: 1 }));
    const failure = await createClaimingName(request(NEW), options).catch((error: unknown) => error);
    expect(String(failure)).toMatch(/resource api, replica 1 holds the name/);
    expect(removed).toEqual([]);
  });
});
