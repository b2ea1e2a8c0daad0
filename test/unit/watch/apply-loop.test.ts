import { describe, expect, it } from "vitest";
import { ISSUE_CODES, type LoadResult } from "../../../src/manifest/index.js";
import { emptyDesiredState } from "../../../src/model/resources.js";
import { ApplyLoop } from "../../../src/watch/apply-loop.js";

const good = (): LoadResult => ({ desired: emptyDesiredState(), issues: [], files: ["fleet/web.toml"] });
const broken = (): LoadResult => ({
  desired: emptyDesiredState(),
  issues: [
    {
      file: "fleet/web.toml",
      line: 3,
      column: 1,
      path: "containers.web.image",
      code: ISSUE_CODES.missingField,
      message: "is required",
    },
  ],
  files: ["fleet/web.toml"],
});

/** An apply the test finishes by hand. */
function gatedApply() {
  const started: LoadResult[] = [];
  const finishers: ((code: number) => void)[] = [];
  const apply = (loaded: LoadResult) =>
    new Promise<number>((resolve) => {
      started.push(loaded);
      finishers.push(resolve);
    });
  const finish = async (code = 0) => {
    for (let i = 0; i < 50 && finishers.length === 0; i++) await new Promise((r) => setImmediate(r));
    finishers.shift()?.(code);
  };
  return { apply, started, finish };
}

describe("ApplyLoop", () => {
  it("coalesces every change during an apply into exactly one more apply", async () => {
    const { apply, started, finish } = gatedApply();
    const log: string[] = [];
    const loop = new ApplyLoop({ load: async () => good(), apply, log: (line) => log.push(line) });
    const done = loop.trigger("start");
    while (started.length === 0) await new Promise((resolve) => setImmediate(resolve));
    void loop.trigger("change web.toml");
    void loop.trigger("change api.toml");
    void loop.trigger("change db.toml");
    await finish(0);
    await finish(0);
    await done;
    await finish(0);
    expect(started).toHaveLength(2);
    expect(log.filter((line) => line.endsWith("loading manifests"))).toEqual([
      "start: loading manifests",
      "change db.toml: loading manifests",
    ]);
  });

  it("applies nothing from invalid manifests, reports every issue, and keeps the last good state", async () => {
    let next = good;
    const applied: LoadResult[] = [];
    const log: string[] = [];
    const loop = new ApplyLoop({
      load: async () => next(),
      apply: async (loaded) => {
        applied.push(loaded);
        return 0;
      },
      log: (line) => log.push(line),
    });
    next = broken;
    await loop.trigger("start");
    expect(applied).toEqual([]);
    expect(log).toEqual([
      "start: loading manifests",
      "  fleet/web.toml:3:1: containers.web.image: is required",
      "manifests invalid (1 error): nothing applied; no good state applied yet",
    ]);
    next = good;
    await loop.trigger("fixed");
    next = broken;
    await loop.trigger("broke again");
    expect(applied).toHaveLength(1);
    expect(log.at(-1)).toBe(
      "manifests invalid (1 error): nothing applied; the last good state stays in force",
    );
  });

  it("reports a failed apply and a non-zero exit code", async () => {
    const log: string[] = [];
    let code = 1;
    const loop = new ApplyLoop({
      load: async () => good(),
      apply: async () => {
        if (code === 2) throw new Error("bus closed");
        return code;
      },
      log: (line) => log.push(line),
    });
    await loop.trigger("start");
    code = 2;
    await loop.trigger("again");
    expect(log.filter((line) => line.startsWith("appl"))).toEqual([
      "applied: NOT converged (exit code 1)",
      "apply failed: bus closed",
    ]);
  });

  it("after stop(), starts no apply, queues none, and does not report the one in flight", async () => {
    const { apply, started, finish } = gatedApply();
    const log: string[] = [];
    const loop = new ApplyLoop({ load: async () => good(), apply, log: (line) => log.push(line) });
    const done = loop.trigger("start");
    void loop.trigger("change during the apply");
    await new Promise((resolve) => setImmediate(resolve));
    loop.stop();
    await finish(0);
    await done;
    await loop.trigger("change after stop");
    expect(started).toHaveLength(1);
    expect(log).toEqual(["start: loading manifests"]);
  });
});
