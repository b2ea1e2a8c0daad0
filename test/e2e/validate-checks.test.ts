// validate through the built CLI: host ports that collide on a node, and directories without manifests.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";

let work: Awaited<ReturnType<typeof scratch>>;

const validate = (...paths: string[]) =>
  runCli(["validate", ...paths.flatMap((path) => ["-f", join(work.dir, path)])], {
    env: { TREESCALE_HOME: join(work.dir, "home") },
  });

beforeAll(async () => {
  requireBuild();
  work = await scratch();
  await mkdir(join(work.dir, "empty"));
  await mkdir(join(work.dir, "docs-only"));
  await work.write("docs-only/README.md", "# not a manifest\n");
  await mkdir(join(work.dir, "ports"));
  await work.write(
    "ports/app.toml",
    `[containers.api]
image = "local/busybox:1"
ports = ["8080:80"]

[containers.web]
image = "local/busybox:1"
ports = ["8080:8080"]
`,
  );
  await mkdir(join(work.dir, "fine"));
  await work.write(
    "fine/app.toml",
    `[containers.api]
image = "local/busybox:1"
ports = ["8080:80"]

[containers.dns]
image = "local/busybox:1"
ports = ["8080:53/udp"]
`,
  );
});

afterAll(async () => {
  await work.remove();
});

describe("treescale validate", () => {
  it("exits 2 naming a directory that holds no manifests", async () => {
    for (const dir of ["empty", "docs-only"]) {
      const result = await validate(dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `no manifests in ${join(work.dir, dir)} (looked for *.toml, *.json, *.yaml, *.yml)`,
      );
      expect(result.stdout).not.toContain("valid");
    }
  });

  it("names the empty one among directories that do hold manifests", async () => {
    const result = await validate("fine", "empty");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`no manifests in ${join(work.dir, "empty")}`);
  });

  it("exits 2 when two containers publish the same host port on one node", async () => {
    const result = await validate("ports");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `${join(work.dir, "ports", "app.toml")}:5:1: containers.web.ports[0]: host port 0.0.0.0:8080/tcp is also published by containers.api`,
    );
    expect(result.stderr).toContain("1 error in the manifests.");
  });

  it("accepts the same port number over another protocol", async () => {
    const result = await validate("fine");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("1 file valid: 2 containers, 0 servers, 0 balancers.\n");
  });
});
