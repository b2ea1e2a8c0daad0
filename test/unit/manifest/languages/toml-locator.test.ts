import { describe, expect, it } from "vitest";
import { createTomlLocator } from "../../../../src/manifest/languages/toml-locator.js";

const text = `# comment with "quotes" and [brackets]
title = "x"

[containers.web]
image = "local/busybox:1"
env = { GREETING = "hi", "QUOTED KEY" = 1, nested = { deep = true } }
ports = [
  "8080:80",   # first
  { host = 9090, container = 90 },
]
description = """
[not.a.header]
fake = 1
"""
healthcheck.test = ["CMD", "true"]

[containers."ubuntu/php:dev"]
  image = 'literal'

[[servers.list]]
name = "a"
[[servers.list]]
name = "b"
[servers.list.extra]
x = 1
`;

describe("TOML locator", () => {
  const locate = createTomlLocator(text);

  it("finds table headers and keys under them", () => {
    expect(locate(["containers", "web"])).toEqual({ line: 4, column: 1 });
    expect(locate(["containers", "web", "image"])).toEqual({ line: 5, column: 1 });
    expect(locate(["title"])).toEqual({ line: 2, column: 1 });
  });

  it("finds keys inside inline tables, quoted and nested", () => {
    expect(locate(["containers", "web", "env", "GREETING"])).toEqual({ line: 6, column: 9 });
    expect(locate(["containers", "web", "env", "QUOTED KEY"])).toEqual({ line: 6, column: 26 });
    expect(locate(["containers", "web", "env", "nested", "deep"])).toEqual({ line: 6, column: 55 });
  });

  it("finds array elements across lines, including inline tables in arrays", () => {
    expect(locate(["containers", "web", "ports", 0])).toEqual({ line: 8, column: 3 });
    expect(locate(["containers", "web", "ports", 1])).toEqual({ line: 9, column: 3 });
    expect(locate(["containers", "web", "ports", 1, "container"])).toEqual({ line: 9, column: 18 });
  });

  it("does not read headers or keys inside multi-line strings", () => {
    expect(locate(["not", "a", "header"])).toEqual({ line: 1, column: 1 });
    expect(locate(["containers", "web", "fake"])).toEqual({ line: 4, column: 1 });
  });

  it("finds dotted keys and quoted table names", () => {
    expect(locate(["containers", "web", "healthcheck", "test"])).toEqual({ line: 15, column: 1 });
    expect(locate(["containers", "web", "healthcheck", "test", 1])).toEqual({ line: 15, column: 28 });
    expect(locate(["containers", "ubuntu/php:dev", "image"])).toEqual({ line: 18, column: 3 });
  });

  it("numbers arrays of tables and resolves sub-tables to the latest element", () => {
    expect(locate(["servers", "list", 0, "name"])).toEqual({ line: 21, column: 1 });
    expect(locate(["servers", "list", 1, "name"])).toEqual({ line: 23, column: 1 });
    expect(locate(["servers", "list", 1, "extra", "x"])).toEqual({ line: 25, column: 1 });
  });

  it("falls back to the nearest declared parent, then to line 1", () => {
    expect(locate(["containers", "web", "replicas"])).toEqual({ line: 4, column: 1 });
    expect(locate(["balancers", "front"])).toEqual({ line: 1, column: 1 });
  });

  it("survives malformed text without throwing", () => {
    const broken = createTomlLocator('[unclosed\nkey = "open string\n= nothing\n[[a]\nb = {c = \n');
    expect(broken(["unclosed"]).line).toBe(1);
    expect(broken(["unclosed", "key"])).toEqual({ line: 2, column: 1 });
  });
});
