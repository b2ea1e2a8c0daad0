// The package's entry points as a program that depends on TreeScale imports them (built output).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { build } from "esbuild";
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

  it('"treescale/client" bundles for a browser with no Node module, no stub and no external', async () => {
    requireBuild();
    const result = await build({
      stdin: {
        contents: 'import { BusClient, connect } from "treescale/client"; console.log(BusClient, connect);',
        resolveDir: new URL("../..", import.meta.url).pathname,
      },
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain("dist/src/bus/client/browser.js");
    expect(inputs.filter((path) => /tcp-transport|dial\.js|node:/.test(path))).toEqual([]);
    const imports = Object.values(result.metafile.inputs).flatMap((input) =>
      input.imports.map((i) => i.path),
    );
    expect(imports.filter((path) => path.startsWith("node:"))).toEqual([]);
  });
});
