import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  claimEmbeddedEndpoint,
  findEmbeddedEndpoint,
  forgetEmbeddedEndpoint,
  publishEmbeddedEndpoint,
} from "../../../src/node/embedded-endpoint.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "treescale-endpoint-"));
});
afterEach(() => rm(home, { recursive: true, force: true }));

const mine = { node: "local", url: "", token: "t", pid: process.pid };

describe("embedded node endpoint record", () => {
  it("one claim wins; the holder's published address is what others find", async () => {
    expect(await claimEmbeddedEndpoint(home, mine)).toBe(true);
    expect(await claimEmbeddedEndpoint(home, { ...mine, token: "other" })).toBe(false);
    await publishEmbeddedEndpoint(home, { ...mine, url: "127.0.0.1:7001" });
    expect(await findEmbeddedEndpoint(home, "local")).toEqual({ ...mine, url: "127.0.0.1:7001" });
    await forgetEmbeddedEndpoint(home, "local");
    expect(await findEmbeddedEndpoint(home, "local")).toBeUndefined();
  });

  it("a record left by a dead process is ignored and taken over; another process's record is never removed", async () => {
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((resolve) => child.once("exit", () => resolve(child.pid!)));
    const path = join(home, "nodes", "local", "endpoint.json");
    expect(await claimEmbeddedEndpoint(home, { ...mine, pid: deadPid })).toBe(true);
    expect(await findEmbeddedEndpoint(home, "local")).toBeUndefined();
    expect(await claimEmbeddedEndpoint(home, mine)).toBe(true);
    await writeFile(path, JSON.stringify({ ...mine, pid: 1, url: "x" }));
    await forgetEmbeddedEndpoint(home, "local");
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: 1 });
  });
});
