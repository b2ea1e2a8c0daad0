import { describe, expect, it } from "vitest";
import { colorOf, parseSince, prefixer } from "../../../src/cli/log-output.js";
import { UsageError } from "../../../src/errors.js";

describe("logs output", () => {
  it("prefixes like compose, padded to the longest replica name", () => {
    const prefix = prefixer(["web-1", "web-10"], false);
    expect(prefix("web-1")).toBe("web-1  | ");
    expect(prefix("web-10")).toBe("web-10 | ");
  });

  it("colors a replica the same way every run, and replicas apart", () => {
    expect(colorOf("web-1")).toBe(colorOf("web-1"));
    expect(new Set(["web-1", "web-2", "web-3", "web-4"].map(colorOf)).size).toBeGreaterThan(1);
    expect(prefixer(["web-1"], true)("web-1")).toBe(`\u001b[${colorOf("web-1")}mweb-1 |\u001b[0m `);
  });

  it("reads --since as a duration back from now or an RFC 3339 time", () => {
    const now = Date.parse("2026-01-02T15:04:05Z");
    expect(parseSince("10m", now)).toBe(now / 1000 - 600);
    expect(parseSince("2026-01-02T15:00:00Z", now)).toBe(now / 1000 - 245);
    expect(() => parseSince("yesterday", now)).toThrow(UsageError);
  });
});
