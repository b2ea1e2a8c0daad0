// The package's entry points as a program that depends on TreeScale imports them (built output).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { requireBuild } from "../support/cli.js";

const run = promisify(execFile);

describe("package entry points", () => {
  it('"treescale" exposes the library and "treescale/client" the bus client', async () => {
    requireBuild();
    const script = `
      const lib = await import("treescale");
      const client = await import("treescale/client");
      const { desired, issues } = await lib.loadManifests(["manifests/examples"]);
      console.log(JSON.stringify({ issues: issues.length, containers: Object.keys(desired.containers), connect: typeof client.connect }));
    `;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("../..", import.meta.url).pathname,
    });
    expect(JSON.parse(stdout)).toEqual({ issues: 0, containers: ["web", "worker"], connect: "function" });
  });
});
