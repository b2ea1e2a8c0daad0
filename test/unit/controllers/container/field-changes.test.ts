import { describe, expect, it } from "vitest";
import { containerActionJson, describeContainerAction } from "../../../../controllers/container/describe.js";
import { fieldChanges, looksSecret } from "../../../../controllers/container/field-changes.js";
import { planContainers } from "../../../../controllers/container/plan.js";
import { actionLines } from "../../../../src/reconcile/render.js";
import { entriesFor, running, STACK, spec } from "./fixtures.js";

describe("container field changes", () => {
  it("names each changed env and label key with its old and new value, in sorted order", () => {
    const before = spec("web", { env: { MODE: "a", KEEP: "1", OLD: "x" }, labels: { team: "a" } });
    const after = spec("web", { env: { MODE: "b", KEEP: "1", NEW: "y" }, labels: { team: "b" } });
    expect(fieldChanges(before, after, ["env", "labels"])).toEqual([
      { field: "env.MODE", from: "a", to: "b" },
      { field: "env.NEW", from: undefined, to: "y" },
      { field: "env.OLD", from: "x", to: undefined },
      { field: "labels.team", from: "a", to: "b" },
    ]);
  });

  it("gives lists and scalars whole, and only the fields asked for", () => {
    const before = spec("web", { image: "a:1", command: ["sh"], ports: [] });
    const after = spec("web", {
      image: "a:2",
      command: ["sh", "-c", "true"],
      ports: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    });
    expect(fieldChanges(before, after, ["image", "command"])).toEqual([
      { field: "image", from: "a:1", to: "a:2" },
      { field: "command", from: ["sh"], to: ["sh", "-c", "true"] },
    ]);
    expect(fieldChanges(before, after, ["ports"])).toEqual([
      { field: "ports", from: [], to: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
    ]);
  });

  it("masks env values whose names look like secrets, keeping whether one was added or removed", () => {
    const before = spec("web", { env: { DB_PASSWORD: "old", apiKey: "k1", GONE_TOKEN: "t" } });
    const after = spec("web", { env: { DB_PASSWORD: "new", apiKey: "k2", Aws_Secret_Access: "s" } });
    expect(fieldChanges(before, after, ["env"])).toEqual([
      { field: "env.Aws_Secret_Access", from: undefined, to: "(sensitive)", sensitive: true },
      { field: "env.DB_PASSWORD", from: "(sensitive)", to: "(sensitive)", sensitive: true },
      { field: "env.GONE_TOKEN", from: "(sensitive)", to: undefined, sensitive: true },
      { field: "env.apiKey", from: "(sensitive)", to: "(sensitive)", sensitive: true },
    ]);
  });

  it("takes a secret's word only as a whole part of the name, in any case", () => {
    for (const name of [
      "PASSWORD",
      "db_password",
      "GITHUB_TOKEN",
      "api-key",
      "apiKey",
      "MY.SECRET",
      "CREDENTIALS",
    ])
      expect(looksSecret(name), name).toBe(true);
    for (const name of ["MODE", "MONKEY", "KEYBOARD_LAYOUT", "TOKENIZER", "PWD", "PATH", "BYPASS_CACHE"])
      expect(looksSecret(name), name).toBe(false);
  });
});

describe("a recreate's values in the plan", () => {
  const plan = (before: ReturnType<typeof spec>, after: ReturnType<typeof spec>, held = before) =>
    planContainers({
      node: "local",
      stack: STACK,
      entries: entriesFor({ web: after }, "local"),
      held: entriesFor({ web: held }, "local"),
      observed: [running("local", before, 1)],
      inventory: { web: { replicas: [1] } },
      prune: false,
    });

  it("shows the old and new env value under the action, secrets masked, in text and JSON", () => {
    const before = spec("web", { env: { MODE: "a", DB_PASSWORD: "hunter2" } });
    const after = spec("web", { env: { MODE: "b", DB_PASSWORD: "hunter3" } });
    const [action] = plan(before, after).actions;
    if (action?.type !== "recreate") throw new Error("expected a recreate");
    expect(actionLines([describeContainerAction(action)])).toEqual([
      "  ~ recreate shop_web_1_local  env changed",
      "      ~ env.DB_PASSWORD: (sensitive)",
      '      ~ env.MODE: "a" → "b"',
    ]);
    expect(containerActionJson(action)).toMatchObject({
      changed: ["env"],
      changes: [
        { field: "env.DB_PASSWORD", from: "(sensitive)", to: "(sensitive)", sensitive: true },
        { field: "env.MODE", from: "a", to: "b" },
      ],
    });
    expect(JSON.stringify(containerActionJson(action))).not.toContain("hunter");
    expect(JSON.stringify(action)).not.toContain("hunter2");
  });

  it("says null in JSON for an added value", () => {
    const [action] = plan(spec("web"), spec("web", { env: { NEW: "1" } })).actions;
    if (action?.type !== "recreate") throw new Error("expected a recreate");
    expect(containerActionJson(action)).toMatchObject({
      changes: [{ field: "env.NEW", from: null, to: "1" }],
    });
  });

  it("gives no values when the held slice is not what the container runs", () => {
    const before = spec("web", { env: { MODE: "a" } });
    const [action] = plan(
      before,
      spec("web", { env: { MODE: "c" } }),
      spec("web", { env: { MODE: "z" } }),
    ).actions;
    if (action?.type !== "recreate") throw new Error("expected a recreate");
    expect(action.changes).toBeUndefined();
    expect(describeContainerAction(action).changes).toBeUndefined();
    expect(containerActionJson(action)).not.toHaveProperty("changes");
  });
});
