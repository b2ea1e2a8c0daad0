// What every ContainerEngine must do, as one suite each implementation runs: the Docker driver
// against dockerd (test/integration/), the in-memory fake (test/unit/). A fake that passes it
// behaves like the engine on every path the agent and the controllers take.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerEngine, CreateContainerRequest } from "../../src/drivers/engine.js";
import { ContainerNameConflictError, EngineRequestError } from "../../src/drivers/engine-errors.js";
import { AbortedError, ImageUnavailableError } from "../../src/errors.js";
import { containerName } from "../../src/model/labels.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import { containerSpec } from "../support/specs.js";

export type ContainerEngineContractFixture = {
  engine: ContainerEngine;
  /** Two node names nothing else uses: the suite labels every container it creates with one of them. */
  nodes: readonly [string, string];
  /** An image the engine has, and a command that keeps a container of it running. */
  image: string;
  command: readonly string[];
  /** An image the engine lacks and no registry supplies. */
  missingImage: string;
  /** Removes what the suite created; runs after the suite, also when a test failed. */
  cleanup(): Promise<void>;
};

const STACK = "contract";

/** An id no container has: real ones are 64 random hex digits. */
const UNKNOWN_ID = "0".repeat(64);

export function describeContainerEngineContract(
  label: string,
  setup: () => Promise<ContainerEngineContractFixture>,
): void {
  describe(`ContainerEngine contract — ${label}`, () => {
    let current: ContainerEngineContractFixture | undefined;

    beforeAll(async () => {
      current = await setup();
    });

    afterAll(async () => {
      await current?.cleanup();
    });

    function fixture(): ContainerEngineContractFixture {
      if (!current) throw new Error("the contract fixture was not set up");
      return current;
    }

    function request(
      resource: string,
      options: { node?: string; replica?: number; image?: string } = {},
    ): CreateContainerRequest {
      const { nodes, image, command } = fixture();
      const node = options.node ?? nodes[0];
      const replica = options.replica ?? 1;
      return {
        name: containerName(STACK, node, resource, replica),
        node,
        stack: STACK,
        replica,
        spec: containerSpec(resource, { image: options.image ?? image, command: [...command] }),
        hash: `hash-of-${resource}`,
        fieldHashes: { image: "aaaaaaaa", command: "bbbbbbbb" },
        generation: 1,
      };
    }

    async function listed(id: string, node = fixture().nodes[0]): Promise<ObservedContainer | undefined> {
      return (await fixture().engine.listOwned(node)).find((container) => container.id === id);
    }

    it("create with a name: the list shows it by that name, with every label field, as created", async () => {
      const { engine, image } = fixture();
      const wanted = request("created", { replica: 2 });
      const id = await engine.create(wanted);
      expect(await listed(id)).toMatchObject({
        id,
        name: wanted.name,
        node: wanted.node,
        stack: STACK,
        resource: "created",
        replica: 2,
        hash: "hash-of-created",
        fieldHashes: { image: "aaaaaaaa", command: "bbbbbbbb" },
        image,
        state: "created",
      } satisfies Partial<ObservedContainer>);
    });

    it("start: the container runs, and starting it again is not an error", async () => {
      const { engine } = fixture();
      const id = await engine.create(request("started"));
      await engine.start(id);
      expect((await listed(id))?.state).toBe("running");
      await expect(engine.start(id)).resolves.toBeUndefined();
    });

    it("start of a container that is gone fails with EngineRequestError 404", async () => {
      const error = await fixture()
        .engine.start(UNKNOWN_ID)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineRequestError);
      expect(error).toMatchObject({ statusCode: 404 });
    });

    it("rename: the list shows the new name and the old one is free", async () => {
      const { engine } = fixture();
      const before = request("renamed", { replica: 1 });
      const after = request("renamed", { replica: 7 });
      const id = await engine.create(before);
      await engine.rename(id, after.name);
      expect((await listed(id))?.name).toBe(after.name);
      const reuse = await engine.create(before);
      expect((await listed(reuse))?.name).toBe(before.name);
    });

    it("rename to a name another container holds fails with ContainerNameConflictError", async () => {
      const { engine } = fixture();
      const holder = request("holder");
      await engine.create(holder);
      const id = await engine.create(request("mover"));
      const error = await engine.rename(id, holder.name).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContainerNameConflictError);
      expect(error).toMatchObject({ code: "CONTAINER_NAME_CONFLICT", container: holder.name });
    });

    it("remove of a running container: it leaves the list", async () => {
      const { engine } = fixture();
      const id = await engine.create(request("removed"));
      await engine.start(id);
      await engine.remove(id, 0);
      expect(await listed(id)).toBeUndefined();
    });

    it("remove of a container already removed, or never known, is not an error", async () => {
      const { engine } = fixture();
      const id = await engine.create(request("twice"));
      await engine.remove(id, 0);
      await expect(engine.remove(id, 0)).resolves.toBeUndefined();
      await expect(engine.remove(UNKNOWN_ID, 0)).resolves.toBeUndefined();
    });

    it("create with a taken name fails with ContainerNameConflictError naming it, and keeps the holder", async () => {
      const { engine } = fixture();
      const wanted = request("taken");
      const first = await engine.create(wanted);
      const error = await engine.create(wanted).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ContainerNameConflictError);
      expect(error).toMatchObject({ code: "CONTAINER_NAME_CONFLICT", container: wanted.name });
      expect((error as Error).message).toContain(`"${wanted.name}"`);
      const named = (await engine.listOwned(wanted.node)).filter((c) => c.name === wanted.name);
      expect(named.map((c) => c.id)).toEqual([first]);
    });

    it("create with a missing image fails with ImageUnavailableError naming the image", async () => {
      const { engine, missingImage } = fixture();
      const wanted = request("imageless", { image: missingImage });
      const error = await engine.create(wanted).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageUnavailableError);
      expect(error).toMatchObject({ code: "IMAGE_UNAVAILABLE", image: missingImage });
      const named = (await engine.listOwned(wanted.node)).filter((c) => c.name === wanted.name);
      expect(named).toEqual([]);
    });

    it("hasImage: true for an image the engine has, false for one it lacks", async () => {
      const { engine, image, missingImage } = fixture();
      expect(await engine.hasImage(image)).toBe(true);
      expect(await engine.hasImage(missingImage)).toBe(false);
    });

    it("pullImage of an image no registry supplies fails with ImageUnavailableError", async () => {
      const { engine, missingImage } = fixture();
      const error = await engine.pullImage(missingImage, () => undefined).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageUnavailableError);
      expect(error).toMatchObject({ image: missingImage });
    });

    it("listOwned(node) returns only that node's containers", async () => {
      const { engine, nodes } = fixture();
      const [mine, theirs] = nodes;
      const ours = await engine.create(request("shared", { node: mine }));
      const others = await engine.create(request("shared", { node: theirs }));
      const listedMine = await engine.listOwned(mine);
      expect(listedMine.map((c) => c.id)).toContain(ours);
      expect(listedMine.map((c) => c.id)).not.toContain(others);
      expect(listedMine.every((c) => c.node === mine)).toBe(true);
      expect((await engine.listOwned(theirs)).map((c) => c.id)).toEqual([others]);
    });

    it("an aborted signal rejects every call with AbortedError, and an aborted create creates nothing", async () => {
      const { engine, image } = fixture();
      const wanted = request("aborted");
      const id = await engine.create(request("bystander"));
      const signal = AbortSignal.abort(new Error("the node is stopping"));
      const calls: [string, Promise<unknown>][] = [
        ["ping", engine.ping({ signal })],
        ["listOwned", engine.listOwned(wanted.node, { signal })],
        ["hasImage", engine.hasImage(image, { signal })],
        ["pullImage", engine.pullImage(image, () => undefined, { signal })],
        ["create", engine.create(wanted, { signal })],
        ["start", engine.start(id, { signal })],
        ["rename", engine.rename(id, request("bystander", { replica: 9 }).name, { signal })],
        ["remove", engine.remove(id, 0, { signal })],
      ];
      for (const [call, promise] of calls) {
        const error = await promise.catch((e: unknown) => e);
        expect(error, call).toBeInstanceOf(AbortedError);
        expect(error, call).toMatchObject({ code: "ABORTED" });
      }
      const names = (await engine.listOwned(wanted.node)).map((c) => c.name);
      expect(names).not.toContain(wanted.name);
      expect(await listed(id)).toMatchObject({ name: request("bystander").name, state: "created" });
    });
  });
}
