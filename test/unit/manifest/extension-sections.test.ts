import { describe, expect, it } from "vitest";
import {
  type ExtensionSection,
  formatIssue,
  type LoadResult,
  loadManifests,
} from "../../../src/manifest/index.js";
import { writeTree } from "./support.js";

/** A kind only these tests know: a toy has a colour and, optionally, a number of squeaks. */
type Toy = { color: string; squeaks: number };

const toys: ExtensionSection = {
  section: "toys",
  parse(body) {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      return { ok: false, issues: [{ path: [], message: "expected a table {color, squeaks}" }] };
    const { color, squeaks = 0, ...rest } = body as Record<string, unknown>;
    const issues: { path: (string | number)[]; message: string }[] = [];
    if (typeof color !== "string") issues.push({ path: ["color"], message: "expected a colour name" });
    if (typeof squeaks !== "number") issues.push({ path: ["squeaks"], message: "expected a number" });
    for (const key of Object.keys(rest)) issues.push({ path: [key], message: `unknown toy field "${key}"` });
    if (typeof color !== "string" || typeof squeaks !== "number" || issues.length > 0)
      return { ok: false, issues };
    const toy: Toy = { color, squeaks };
    return { ok: true, value: toy };
  },
};

/** Loads files (name → text) from a temp dir with the toys section; messages name files relative to it. */
async function load(
  files: Record<string, string>,
  sections: readonly ExtensionSection[] = [toys],
): Promise<LoadResult & { messages: string[] }> {
  const dir = await writeTree(files);
  const result = await loadManifests([dir], undefined, { sections });
  const messages = result.issues.map((issue) =>
    formatIssue({ ...issue, file: issue.file.slice(dir.length + 1) }),
  );
  return { ...result, messages };
}

describe("extension sections", () => {
  it("declares a kind the loader does not know, in TOML, JSON and YAML, beside the built-in kinds", async () => {
    const result = await load({
      "a.toml": '[containers.web]\nimage = "i"\n\n[toys.rex]\ncolor = "green"\nsqueaks = 2\n',
      "b.json": '{"toys": {"slinky": {"color": "rainbow"}}}',
      "c.yaml": "stack: nursery\ntoys:\n  ball: { color: red }\n",
    });
    expect(result.issues).toEqual([]);
    expect(result.desired.extensions).toEqual({
      toys: {
        rex: { color: "green", squeaks: 2 },
        slinky: { color: "rainbow", squeaks: 0 },
        ball: { color: "red", squeaks: 0 },
      },
    });
    expect(Object.keys(result.desired.containers)).toEqual(["web"]);
    expect(result.desired.sources["toys.rex"]).toMatchObject({ line: 4, column: 1 });
    expect(result.desired.sources["toys.ball"]).toMatchObject({ line: 3, column: 3 });
    expect(result.stack).toBe("nursery");
  });

  it("locates the section's own issues at their paths and keeps no invalid resource", async () => {
    const { messages, issues, desired } = await load({
      "toys.toml": '[toys.rex]\ncolor = 7\nsqueak = 1\n\n[toys.ball]\ncolor = "red"\n',
    });
    expect(messages).toEqual([
      "toys.toml:2:1: toys.rex.color: expected a colour name",
      'toys.toml:3:1: toys.rex.squeak: unknown toy field "squeak"',
    ]);
    expect(issues.map((issue) => issue.code)).toEqual(["INVALID_VALUE", "INVALID_VALUE"]);
    expect(desired.extensions.toys).toEqual({ ball: { color: "red", squeaks: 0 } });
  });

  it("applies the resource name rule and reports a section that is not a table", async () => {
    const names = await load({ "names.yaml": "toys:\n  Rex: { color: green }\n" });
    expect(names.messages).toHaveLength(1);
    expect(names.messages[0]).toMatch(/^names\.yaml:2:3: toys\.Rex: invalid name: expected a lowercase name/);
    const shape = await load({ "shape.yaml": "toys: [rex]\n" });
    expect(shape.messages).toEqual([
      "shape.yaml:1:1: toys: expected a table of toys keyed by name, got a list",
    ]);
  });

  it("reports a toy declared in two files with both places", async () => {
    const { messages, issues, desired } = await load({
      "a.toml": '[toys.rex]\ncolor = "green"\n',
      "b.yaml": "toys:\n  rex: { color: blue }\n",
    });
    expect(messages).toEqual([
      expect.stringMatching(
        /^b\.yaml:2:3: toys\.rex: toys\.rex is declared twice: \S+a\.toml:1:1 and \S+b\.yaml:2:3$/,
      ),
    ]);
    expect(issues[0]?.code).toBe("DUPLICATE");
    expect(desired.extensions.toys?.rex).toEqual({ color: "green", squeaks: 0 });
  });

  it("counts the sections among the known words for an unknown top-level key", async () => {
    const { messages } = await load({ "typo.toml": '[toy.rex]\ncolor = "green"\n' });
    expect(messages).toEqual(['typo.toml:1:1: toy: unknown field "toy"; did you mean "toys"?']);
  });

  it("is an unknown field when the caller does not supply the section", async () => {
    const { messages, desired } = await load({ "toys.toml": '[toys.rex]\ncolor = "green"\n' }, []);
    expect(messages).toEqual(['toys.toml:1:1: toys: unknown field "toys"']);
    expect(desired.extensions).toEqual({});
  });

  it("gives every supplied section a table, empty when no manifest declares one", async () => {
    const { desired } = await load({ "web.toml": '[containers.web]\nimage = "i"\n' });
    expect(desired.extensions).toEqual({ toys: {} });
  });

  it("tells YAML on stdin by a section name as by a built-in kind", async () => {
    const result = await loadManifests(["-"], async () => "toys:\n  rex:\n    color: green\n", {
      sections: [toys],
    });
    expect(result.issues).toEqual([]);
    expect(result.desired.extensions.toys?.rex).toEqual({ color: "green", squeaks: 0 });
  });

  it("refuses a section that clashes with a built-in key or another section", async () => {
    const dir = await writeTree({});
    const named = (section: string): ExtensionSection => ({ ...toys, section });
    for (const section of ["containers", "stack", "$schema", "current_node"]) {
      await expect(loadManifests([dir], undefined, { sections: [named(section)] })).rejects.toThrow(
        `extension section "${section}" is already a top-level manifest key`,
      );
    }
    await expect(loadManifests([dir], undefined, { sections: [toys, toys] })).rejects.toThrow(
      'extension section "toys" is supplied twice',
    );
  });
});
