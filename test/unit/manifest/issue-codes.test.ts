import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifests } from "../../../src/manifest/index.js";
import { loadText, writeTree } from "./support.js";

/** `path code` of each issue, in the order reported. */
async function codesOf(name: string, text: string): Promise<string[]> {
  const { issues } = await loadText(name, text);
  return issues.map((issue) => `${issue.path} ${issue.code}`);
}

describe("issue codes", () => {
  it("gives every syntax error PARSE_ERROR, in all three languages, duplicate keys included", async () => {
    expect(await codesOf("bad.toml", "replicas = = 3\n")).toEqual([" PARSE_ERROR"]);
    expect(await codesOf("bad.json", '{"containers": }')).toEqual([" PARSE_ERROR"]);
    expect(await codesOf("bad.yaml", "a: [unclosed\n")).toEqual([" PARSE_ERROR"]);
    expect(await codesOf("dup.json", '{"containers": {}, "containers": {}}')).toEqual([" PARSE_ERROR"]);
  });

  it("tells a missing field from a wrong value and an unknown field", async () => {
    const text = [
      "[containers.web]",
      "replica = 3",
      "[containers.api]",
      'image = "i"',
      'replicas = "x"',
      "[balancers.front]",
      'alg = "rr"',
      'backends = [{ container = "api" }]',
    ].join("\n");
    expect(await codesOf("fields.toml", text)).toEqual([
      "containers.web.image MISSING_FIELD",
      "containers.web.replica UNKNOWN_FIELD",
      "containers.api.replicas INVALID_VALUE",
      "balancers.front.address MISSING_FIELD",
      "balancers.front.backends[0].port MISSING_FIELD",
    ]);
  });

  it("marks bad names and shapes INVALID_VALUE and unknown kinds UNKNOWN_FIELD", async () => {
    const yaml = "containers:\n  Web: { image: i }\nservers: [a]\ncontainer: {}\n";
    expect(await codesOf("shape.yaml", yaml)).toEqual([
      "containers.Web INVALID_VALUE",
      "servers INVALID_VALUE",
      "container UNKNOWN_FIELD",
    ]);
  });

  it("marks references to undeclared resources UNKNOWN_REFERENCE and tree contradictions CONFLICT", async () => {
    const yaml = [
      "servers:",
      "  a: { ip: 10.0.0.1, childs: [b, ghost] }",
      "  b: { ip: 10.0.0.2, childs: [a] }",
      "  c: { ip: 10.0.0.3, childs: [b, c] }",
      "balancers:",
      "  front: { address: '10.0.0.1:80', backends: [{ container: web, port: 80 }] }",
    ].join("\n");
    expect(await codesOf("refs.yaml", yaml)).toEqual([
      "servers.a.childs CONFLICT",
      "servers.a.childs[1] UNKNOWN_REFERENCE",
      "servers.c.childs[0] CONFLICT",
      "servers.c.childs[1] INVALID_VALUE",
      "balancers.front.backends[0].container UNKNOWN_REFERENCE",
    ]);
  });

  it("marks a resource declared twice DUPLICATE and an unreadable input READ_ERROR", async () => {
    const dir = await writeTree({
      "a.toml": '[containers.web]\nimage = "a"\n',
      "b.toml": '[containers.web]\nimage = "b"\n',
    });
    const result = await loadManifests([join(dir, "missing.toml"), dir]);
    expect(result.issues.map((issue) => issue.code)).toEqual(["READ_ERROR", "DUPLICATE"]);
  });

  it("codes the seed format's issues too, and contradicting current_node values as CONFLICT", async () => {
    const dir = await writeTree({
      "one/treescale.toml": 'current_node = "a"\ncurent = 1\n',
      "two/treescale.toml": 'current_node = "b"\n[ssh.ghost]\nhost = "h"\n',
    });
    const result = await loadManifests([join(dir, "one"), join(dir, "two")]);
    expect(result.issues.map((issue) => `${issue.path} ${issue.code}`)).toEqual([
      "curent UNKNOWN_FIELD",
      "current_node CONFLICT",
      "ssh.ghost UNKNOWN_REFERENCE",
    ]);
  });
});
