import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InventoryStore, SliceStore, storedStacks } from "../../../src/state/stack-files.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-state-"));
});
afterEach(() => rm(home, { recursive: true, force: true }));

describe("state files", () => {
  it("reads the fallback when nothing was written, and what was written after", async () => {
    const store = new InventoryStore(home, "local", "shop");
    expect(store.path).toBe(join(home, "nodes", "local", "stacks", "shop", "inventory.json"));
    expect(await store.read()).toEqual({ generation: 0, appliedAt: "", inventory: {} });
    const state = {
      generation: 3,
      appliedAt: "2026-11-23T00:00:00Z",
      inventory: { "container/web": { replicas: [1, 2] } },
    };
    await store.write(state);
    expect(await store.read()).toEqual(state);
    expect(JSON.parse(await readFile(store.path, "utf8"))).toEqual(state);
  });

  it("refuses a corrupt or foreign file with its path and what to do", async () => {
    const store = new InventoryStore(home, "local", "shop");
    await store.write({ generation: 1, appliedAt: "", inventory: {} });
    await writeFile(store.path, "{ not json");
    await expect(store.read()).rejects.toThrow(`${store.path} is not valid JSON; move it aside`);
    await writeFile(store.path, '{"generation":"one"}');
    await expect(store.read()).rejects.toMatchObject({
      code: "STATE_FILE",
      message: expect.stringContaining("does not hold"),
    });
  });

  it("keeps one slice per stack and finds the stacks a node has files for", async () => {
    expect(await storedStacks(home, "local")).toEqual([]);
    const shop = new SliceStore(home, "local", "shop");
    expect(await shop.read()).toEqual({ stack: "shop", generation: 0, prune: false, resources: {} });
    const slice = {
      stack: "shop",
      generation: 2,
      prune: true,
      resources: { "container/web": { spec: { name: "web" }, replicas: [1] } },
    };
    await shop.write(slice);
    await new InventoryStore(home, "local", "blog").write({ generation: 1, appliedAt: "", inventory: {} });
    await mkdir(join(home, "nodes", "other", "stacks", "elsewhere"), { recursive: true });
    expect(await storedStacks(home, "local")).toEqual(["blog", "shop"]);
    expect(await shop.read()).toEqual(slice);
    expect(await new SliceStore(home, "local", "blog").read()).toMatchObject({
      stack: "blog",
      generation: 0,
    });
  });
});
