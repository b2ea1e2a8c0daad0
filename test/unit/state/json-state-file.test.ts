import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LastAppliedStore } from "../../../src/state/last-applied.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-state-"));
});
afterEach(() => rm(home, { recursive: true, force: true }));

describe("state files", () => {
  it("reads the fallback when nothing was written, and what was written after", async () => {
    const store = new LastAppliedStore(home, "local");
    expect(await store.read()).toEqual({ generation: 0, appliedAt: "", inventory: {} });
    const state = {
      generation: 3,
      appliedAt: "2026-11-23T00:00:00Z",
      inventory: { web: { replicas: [1, 2] } },
    };
    await store.write(state);
    expect(await store.read()).toEqual(state);
    expect(JSON.parse(await readFile(store.path, "utf8"))).toEqual(state);
  });

  it("refuses a corrupt or foreign file with its path and what to do", async () => {
    const store = new LastAppliedStore(home, "local");
    await store.write({ generation: 1, appliedAt: "", inventory: {} });
    await writeFile(store.path, "{ not json");
    await expect(store.read()).rejects.toThrow(`${store.path} is not valid JSON; move it aside`);
    await writeFile(store.path, '{"generation":"one"}');
    await expect(store.read()).rejects.toMatchObject({
      code: "STATE_FILE",
      message: expect.stringContaining("does not hold"),
    });
  });
});
