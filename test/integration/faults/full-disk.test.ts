// Fault: the disk under the node's home fills up (a 1 MiB tmpfs of the test's own, filled by hand).
// An apply that must write a slice fails with an error naming the file; the node keeps running on
// the slice it held, which stays whole on disk; once there is room again the same apply goes through.
import { execFile } from "node:child_process";
import { mkdtemp, open, readFile, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SliceDocument } from "../../../src/model/wire.js";
import { ensureTestImage } from "../../support/docker.js";
import { containersOf, FAULT_STACK, FaultFleet } from "../../support/fault-fleet.js";

const run = promisify(execFile);
const fleet = new FaultFleet("fd");
let home = "";
let mounted = false;

beforeAll(async () => {
  await ensureTestImage();
  await fleet.setup();
  home = await mkdtemp(join(tmpdir(), "treescale-full-disk-"));
  await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", home]);
  mounted = true;
  await fleet.startNode("root", { home });
  await fleet.writeFleet({ replicas: 2 });
  const first = await fleet.apply();
  expect(first.code, first.stdout + first.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await fleet.teardown();
  // Lazy: a process that still held a file there must not keep the mount behind.
  if (mounted) await run("umount", ["-l", home]);
  if (home) await rmdir(home).catch(() => rm(home, { recursive: true, force: true }));
});

const slicePath = () => join(home, "nodes", fleet.name("root"), "stacks", FAULT_STACK, "slice.json");

/** Writes a file until the disk refuses another byte; returns its path. */
async function fillDisk(): Promise<string> {
  const path = join(home, "filler");
  const file = await open(path, "w");
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) {
      await file.write(block);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    await file.close().catch(() => undefined);
  }
  // Tails smaller than a block, so that not even a small temp file fits.
  const tail = await open(join(home, "filler-tail"), "w");
  try {
    for (;;) await tail.write(Buffer.alloc(1, 1));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    await tail.close().catch(() => undefined);
  }
  return path;
}

describe("a full disk under the node's home", () => {
  it("an apply that must write the slice fails naming the file; the held slice is intact; with room again it goes through", async () => {
    const before = JSON.parse(await readFile(slicePath(), "utf8")) as SliceDocument;
    const filler = await fillDisk();

    await fleet.writeFleet({ replicas: 2, greeting: "changed" });
    const refused = await fleet.apply();
    expect(refused.code).not.toBe(0);
    const said = refused.stdout + refused.stderr;
    expect(said).toContain(slicePath());
    expect(said).toMatch(/ENOSPC|no space/i);
    expect(fleet.node("root").process.exitCode).toBeNull();
    expect(JSON.parse(await readFile(slicePath(), "utf8"))).toEqual(before);
    // The node still answers and still runs the held slice.
    const rows = await fleet.status();
    expect(rows).toEqual([
      expect.objectContaining({
        resource: "container/web",
        condition: "Ready",
        generation: before.generation,
      }),
    ]);

    await rm(filler);
    await rm(join(home, "filler-tail"));
    expect(JSON.parse(await readFile(slicePath(), "utf8"))).toEqual(before);
    const applied = await fleet.apply();
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const node = fleet.name("root");
    expect(await containersOf(node, { state: "running" })).toEqual([
      fleet.containerName("root", 1),
      fleet.containerName("root", 2),
    ]);
    const inspected = await new Docker().getContainer(fleet.containerName("root", 1)).inspect();
    expect(inspected.Config.Env).toContain("GREETING=changed");
    const after = JSON.parse(await readFile(slicePath(), "utf8")) as SliceDocument;
    expect(after.generation).toBeGreaterThan(before.generation);
  }, 120_000);
});
