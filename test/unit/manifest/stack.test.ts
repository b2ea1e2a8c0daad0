import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultStackName, formatIssue, loadManifests } from "../../../src/manifest/index.js";
import { loadText, writeTree } from "./support.js";

describe("stack", () => {
  it("is read from a top-level key in TOML, JSON and YAML, beside the resources", async () => {
    const toml = await loadText("shop.toml", 'stack = "shop"\n\n[containers.web]\nimage = "i"\n');
    const json = await loadText("shop.json", '{"stack": "shop", "containers": {"web": {"image": "i"}}}');
    const yaml = await loadText("shop.yaml", "stack: shop\ncontainers:\n  web: { image: i }\n");
    for (const result of [toml, json, yaml]) {
      expect(result.issues).toEqual([]);
      expect(result.stack).toBe("shop");
      expect(Object.keys(result.desired.containers)).toEqual(["web"]);
    }
  });

  it("is unset when no document names one", async () => {
    const result = await loadText("web.toml", '[containers.web]\nimage = "i"\n');
    expect(result.issues).toEqual([]);
    expect(result).not.toHaveProperty("stack");
  });

  it("follows the resource name rule, reported at the key like any field", async () => {
    const bad = await loadText("bad.toml", '# stack\nstack = "My Shop"\n');
    expect(bad.messages).toEqual([
      `bad.toml:2:1: stack: expected a lowercase name of letters, digits and '-' (at most 40, not starting or ending with '-'), got "My Shop"`,
    ]);
    expect(bad.issues[0]?.code).toBe("INVALID_VALUE");
    expect(bad.stack).toBeUndefined();
    const number = await loadText("number.yaml", "containers: {}\nstack: 3\n");
    expect(number.messages).toEqual([
      "number.yaml:2:1: stack: expected a lowercase name of letters, digits and '-' (at most 40, not starting or ending with '-'), got 3",
    ]);
  });

  it("suggests stack for a misspelt top-level key", async () => {
    const { messages } = await loadText("typo.toml", 'stak = "shop"\n');
    expect(messages).toEqual(['typo.toml:1:1: stak: unknown field "stak"; did you mean "stack"?']);
  });

  it("may be named by several documents when they agree", async () => {
    const dir = await writeTree({
      "a.toml": 'stack = "shop"\n[containers.web]\nimage = "i"\n',
      "b.yaml": "stack: shop\n---\ncontainers:\n  api: { image: i }\n",
    });
    const result = await loadManifests([dir]);
    expect(result.issues).toEqual([]);
    expect(result.stack).toBe("shop");
  });

  it("names both places when two documents name different stacks", async () => {
    const dir = await writeTree({
      "a.toml": '# shop\nstack = "shop"\n',
      "b.yaml": "containers:\n  web: { image: i }\nstack: cart\n",
    });
    const result = await loadManifests([dir]);
    expect(result.issues.map(formatIssue)).toEqual([
      `${dir}/b.yaml:3:1: stack: the manifests name two stacks: "shop" at ${dir}/a.toml:2:1 and "cart" at ${dir}/b.yaml:3:1; one apply takes one stack`,
    ]);
    expect(result.issues[0]?.code).toBe("CONFLICT");
    expect(result.stack).toBe("shop");
  });

  it("leaves the seed format as it was: no stack, loaded unchanged", async () => {
    const result = await loadManifests(["manifests/seed/console.toml"]);
    expect(result.issues).toEqual([]);
    expect(result.stack).toBeUndefined();
    expect(Object.keys(result.desired.servers)).toEqual(["node1", "node2"]);
  });

  it("is not a seed key: a seed file that names a stack is told so", async () => {
    const { messages } = await loadText("treescale.toml", 'current_node = "a"\nstack = "shop"\n');
    expect(messages).toEqual(['treescale.toml:2:1: stack: unknown field "stack"']);
  });
});

describe("defaultStackName", () => {
  it("takes a directory's base name", () => {
    expect(defaultStackName("deploy/shop")).toBe("shop");
    expect(defaultStackName("deploy/shop/")).toBe("shop");
    expect(defaultStackName("/srv/Shop")).toBe("shop");
  });

  it("takes a manifest file's base name without its extension", () => {
    expect(defaultStackName("app/web.toml")).toBe("web");
    expect(defaultStackName("app/web.JSON")).toBe("web");
    expect(defaultStackName("app/web.yaml")).toBe("web");
    expect(defaultStackName("app/web.yml")).toBe("web");
  });

  it('names stdin "stdin"', () => {
    expect(defaultStackName("-")).toBe("stdin");
  });

  it("resolves . and .. to the folders they stand for", () => {
    expect(defaultStackName(".")).toBe(defaultStackName(process.cwd()));
    expect(defaultStackName("..")).toBe(defaultStackName(dirname(process.cwd())));
  });

  it("lowercases and turns every run of other characters into one '-'", () => {
    expect(defaultStackName("My Shop_v2.toml")).toBe("my-shop-v2");
    expect(defaultStackName("/srv/web  (prod)")).toBe("web-prod");
    expect(defaultStackName("/srv/a--b")).toBe("a--b");
    expect(defaultStackName("/srv/café")).toBe("caf");
  });

  it("trims '-' at both ends, also where the 40-character cut leaves one", () => {
    expect(defaultStackName("/srv/__shop__")).toBe("shop");
    expect(defaultStackName("/srv/-shop-")).toBe("shop");
    expect(defaultStackName(`/srv/${"a".repeat(50)}`)).toBe("a".repeat(40));
    expect(defaultStackName(`/srv/${"a".repeat(39)} b`)).toBe("a".repeat(39));
  });

  it('falls back to "default" when nothing is left', () => {
    expect(defaultStackName("/srv/___")).toBe("default");
    expect(defaultStackName("/")).toBe("default");
    expect(defaultStackName("/srv/.toml")).toBe("default");
  });

  it("always gives a valid resource name", () => {
    const pattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
    for (const input of ["-", ".", "/", "x", "ÄÖÜ", "a.b.c", `${"-".repeat(45)}z`, "/srv/web.v1.toml"]) {
      const name = defaultStackName(input);
      expect(name).toMatch(pattern);
      expect(name.length).toBeLessThanOrEqual(40);
    }
  });
});
