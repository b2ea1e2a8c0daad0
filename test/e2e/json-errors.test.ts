// `-o json` is one document on stdout when it works, and one on stderr when it does not: scripts
// read `error.code` and each issue's file, line and field instead of parsing text. Exit codes stay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";

let work: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  requireBuild();
  work = await scratch({
    "bad.toml": '[containers.web]\nimage = "x"\nreplicas = "three"\n',
    "good.toml": '[containers.web]\nimage = "x"\nreplicas = 2\n',
  });
});

afterAll(async () => {
  await work?.remove();
});

describe("-o json", () => {
  it("validate -o json: the counts when valid, every issue with file, line and field when not (exit 2)", async () => {
    const good = await runCli(["validate", "-f", `${work.dir}/good.toml`, "-o", "json"]);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toEqual({
      valid: true,
      files: 1,
      containers: 1,
      servers: 0,
      balancers: 0,
    });

    const bad = await runCli(["validate", "-f", `${work.dir}/bad.toml`, "-o", "json"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    const { error } = JSON.parse(bad.stderr) as { error: { code: string; issues: unknown[] } };
    expect(error.code).toBe("MANIFEST_INVALID");
    expect(error.issues).toEqual([
      expect.objectContaining({
        file: `${work.dir}/bad.toml`,
        line: 3,
        field: "containers.web.replicas",
        code: "INVALID_VALUE",
      }),
    ]);
  });

  it("a usage error in -o json mode is JSON on stderr too, with the text mode's exit code", async () => {
    const result = await runCli(["get", "nosuch", "--output=json"]);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toEqual({
      error: { code: "USAGE", message: expect.stringContaining('unknown kind "nosuch"') },
    });
  });
});
