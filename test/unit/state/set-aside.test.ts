import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InventoryStore, SliceStore, setAsideUnreadableStackFiles } from "../../../src/state/stack-files.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-set-aside-"));
});
afterEach(() => rm(home, { recursive: true, force: true }));

describe("setting aside unreadable stack files", () => {
  it("moves a cut-short slice aside with its reason, keeps it for a person, and leaves readable files alone", async () => {
    const slice = new SliceStore(home, "local", "shop");
    const inventory = new InventoryStore(home, "local", "shop");
    await slice.write({ stack: "shop", generation: 2, prune: false, resources: {} });
    await inventory.write({ generation: 2, appliedAt: "", inventory: {} });
    const whole = await readFile(slice.path, "utf8");
    await writeFile(slice.path, whole.slice(0, whole.length / 2));

    const moved = await setAsideUnreadableStackFiles(home, "local", new Date("2026-11-28T10:00:00.5Z"));
    expect(moved).toEqual([
      {
        path: slice.path,
        movedTo: `${slice.path}.unreadable-2026-11-28T10-00-00-500Z`,
        reason: expect.stringContaining(`${slice.path} is not valid JSON`),
      },
    ]);
    expect(await readFile(moved[0]!.movedTo, "utf8")).toBe(whole.slice(0, whole.length / 2));
    expect((await slice.read()).generation).toBe(0);
    expect((await inventory.read()).generation).toBe(2);
    expect((await readdir(dirname(slice.path))).sort()).toEqual([
      "inventory.json",
      "slice.json.unreadable-2026-11-28T10-00-00-500Z",
    ]);
  });

  it("sets nothing aside on a node without files", async () => {
    expect(await setAsideUnreadableStackFiles(home, "nobody")).toEqual([]);
  });
});
