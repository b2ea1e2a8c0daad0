import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatIssue, loadManifests } from "../../../src/manifest/index.js";
import { loadText, writeTree } from "./support.js";

const FIXTURE_TREE = "test/fixtures/manifests/tree";

describe("inputs and languages", () => {
  it("reports TOML syntax errors with line and column", async () => {
    const { messages, desired } = await loadText(
      "bad.toml",
      '[containers.web]\nimage = "i"\nreplicas = = 3\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^bad\.toml:3:12: TOML syntax error: /);
    expect(desired.containers).toEqual({});
  });

  it("reports JSON syntax errors with line and column", async () => {
    const { messages } = await loadText(
      "bad.json",
      '{\n  "containers": {\n    "web": { "image": "i", }\n  }\n}\n',
    );
    expect(messages).toEqual(["bad.json:3:28: JSON syntax error: property name expected"]);
  });

  it("reports duplicate JSON keys, which JSON.parse would silently drop", async () => {
    const { messages } = await loadText(
      "dup.json",
      '{"containers": {"web": {"image": "a"},\n "web": {"image": "b"}}}',
    );
    expect(messages).toEqual(['dup.json:2:2: duplicate key "web"']);
  });

  it("reports YAML syntax errors with line and column", async () => {
    const { messages } = await loadText("bad.yaml", "containers:\n  web:\n    image: [unclosed\n");
    expect(messages.length).toBeGreaterThan(0);
    expect(messages[0]).toMatch(/^bad\.yaml:\d+:\d+: YAML syntax error: /);
    const duplicate = await loadText("dup.yaml", "containers:\n  web: { image: a }\n  web: { image: b }\n");
    expect(duplicate.messages[0]).toMatch(/^dup\.yaml:3:3: YAML syntax error: Map keys must be unique/);
  });

  it("reports duplicate YAML keys at any depth, in block and flow maps, each where it repeats", async () => {
    const yaml = [
      "containers:",
      "  web:",
      "    image: a",
      "    ports: [{ host: 80, host: 81 }]",
      "    env:",
      "      A: x",
      "      A: y",
    ].join("\n");
    const { messages } = await loadText("dup.yaml", yaml);
    expect(messages).toEqual([
      "dup.yaml:4:25: YAML syntax error: Map keys must be unique",
      "dup.yaml:7:7: YAML syntax error: Map keys must be unique",
    ]);
  });

  it("turns an alias bomb and nesting too deep to parse into issues, not crashes", async () => {
    const names = "abcdefghi";
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (let index = 1; index < names.length; index++)
      bomb += `${names[index]}: &${names[index]} [${Array(10)
        .fill(`*${names[index - 1]}`)
        .join(", ")}]\n`;
    expect((await loadText("bomb.yaml", bomb)).messages).toEqual([
      "bomb.yaml:1:1: YAML syntax error: Excessive alias count indicates a resource exhaustion attack (aliases expand to more than 1000 nodes)",
    ]);
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    for (const [file, text] of [
      ["deep.json", deep],
      ["deep.yaml", `a: ${deep}`],
      ["deep.toml", `a = ${deep}`],
    ] as const) {
      const { issues } = await loadText(file, text);
      expect(issues.length, file).toBeGreaterThan(0);
      expect(new Set(issues.map((issue) => `${issue.line} ${issue.code}`)), file).toEqual(
        new Set(["1 PARSE_ERROR"]),
      );
    }
  });

  it("keeps validating other files when one has a syntax error", async () => {
    const dir = await writeTree({
      "a.toml": "= broken",
      "b.toml": '[containers.web]\nimage = "i"\nreplicas = "x"\n',
    });
    const result = await loadManifests([dir]);
    expect(result.issues.map((issue) => [issue.file.slice(dir.length + 1), issue.line])).toEqual([
      ["a.toml", 1],
      ["b.toml", 3],
    ]);
  });

  it("merges every document of a multi-document YAML file, locating issues in the right one", async () => {
    const yaml =
      "containers:\n  web: { image: a }\n---\ncontainers:\n  worker: { image: b, replicas: -2 }\n---\n";
    const { desired, messages } = await loadText("multi.yaml", yaml);
    expect(Object.keys(desired.containers)).toEqual(["web"]);
    expect(messages).toEqual([
      "multi.yaml:5:23: containers.worker.replicas: expected a whole number ≥ 0, got -2",
    ]);
  });

  it("reads directories recursively in sorted order, skipping hidden entries and other extensions", async () => {
    const result = await loadManifests([FIXTURE_TREE]);
    expect(result.issues).toEqual([]);
    expect(result.files).toEqual([
      join(FIXTURE_TREE, "a-cache.json"),
      join(FIXTURE_TREE, "b-web.toml"),
      join(FIXTURE_TREE, "nested/worker.yml"),
    ]);
    expect(Object.keys(result.desired.containers)).toEqual(["cache", "web", "worker"]);
    expect(result.desired.containers.cache?.command).toEqual(["sleep", "3600"]);
    expect(result.desired.sources["containers.worker"]).toEqual({
      file: join(FIXTURE_TREE, "nested/worker.yml"),
      line: 2,
      column: 3,
    });
  });

  it("reports a missing path as an issue at line 0 instead of throwing", async () => {
    const result = await loadManifests(["does/not/exist.toml", FIXTURE_TREE]);
    expect(result.issues).toEqual([
      {
        file: "does/not/exist.toml",
        line: 0,
        column: 0,
        path: "",
        code: "READ_ERROR",
        message: "no such file or directory",
      },
    ]);
    expect(formatIssue(result.issues[0]!)).toBe("does/not/exist.toml: no such file or directory");
    expect(Object.keys(result.desired.containers)).toHaveLength(3);
  });

  it("names a resource declared twice across files with both places", async () => {
    const dir = await writeTree({
      "a.toml": '# first\n\n[containers.web]\nimage = "a"\n',
      "b.yaml": "containers:\n  web: { image: b }\n",
    });
    const result = await loadManifests([join(dir, "a.toml"), join(dir, "b.yaml")]);
    expect(result.issues.map(formatIssue)).toEqual([
      `${dir}/b.yaml:2:3: containers.web: containers.web is declared twice: ${dir}/a.toml:3:1 and ${dir}/b.yaml:2:3`,
    ]);
    expect(result.desired.containers.web?.image).toBe("a");
  });

  it("reads the same file only once when named twice", async () => {
    const dir = await writeTree({ "a.toml": '[containers.web]\nimage = "a"\n' });
    const result = await loadManifests([join(dir, "a.toml"), dir]);
    expect(result.issues).toEqual([]);
    expect(result.files).toEqual([join(dir, "a.toml")]);
  });

  describe("stdin", () => {
    const load = (text: string) => loadManifests(["-"], async () => text);

    it("sniffs JSON from a leading brace", async () => {
      const result = await load('  {"containers": {"web": {"image": "i", "replicas": "2"}}}');
      expect(result.files).toEqual(["<stdin>"]);
      expect(result.issues.map(formatIssue)).toEqual([
        '<stdin>:1:41: containers.web.replicas: expected a whole number ≥ 0, got "2"',
      ]);
    });

    it("sniffs YAML when it parses to a mapping of known kinds", async () => {
      const result = await load("containers:\n  web:\n    image: i\n");
      expect(result.issues).toEqual([]);
      expect(result.desired.containers.web?.image).toBe("i");
    });

    it("falls back to TOML", async () => {
      const result = await load('[containers.web]\nimage = "i"\n');
      expect(result.issues).toEqual([]);
      expect(result.desired.containers.web?.image).toBe("i");
    });

    it("is an issue, not a crash, when no stdin reader is given", async () => {
      const result = await loadManifests(["-"]);
      expect(result.issues.map(formatIssue)).toEqual([
        "<stdin>: reading manifests from stdin is not available here",
      ]);
    });
  });

  it("treats a top-level JSON array as a list of fragments", async () => {
    const { desired, messages } = await loadText(
      "list.json",
      '[\n {"containers": {"a": {"image": "i"}}},\n {"containers": {"b": {"image": 1}}}\n]',
    );
    expect(Object.keys(desired.containers)).toEqual(["a"]);
    expect(messages).toEqual([
      'list.json:3:24: containers.b.image: expected an image reference such as "local/busybox:1", got 1',
    ]);
  });

  it("rejects a document that is not a table", async () => {
    const { messages } = await loadText("scalar.yaml", "just text\n");
    expect(messages).toEqual([
      'scalar.yaml:1:1: expected a table of resources (servers, containers, balancers), got "just text"',
    ]);
  });
});
