import { describe, expect, it } from "vitest";
import { matchesLabels, parseLabelSelector } from "../../../src/cli/selectors.js";
import { UsageError } from "../../../src/errors.js";

describe("label selectors (get -l)", () => {
  it("reads kubectl's equality forms, all of which must hold", () => {
    const selector = parseLabelSelector("tier=web, env==prod,team!=ops,canary,!legacy");
    expect(matchesLabels(selector, { tier: "web", env: "prod", canary: "" })).toBe(true);
    expect(matchesLabels(selector, { tier: "web", env: "prod", canary: "", team: "ops" })).toBe(false);
    expect(matchesLabels(selector, { tier: "web", env: "prod" })).toBe(false);
    expect(matchesLabels(selector, { tier: "web", env: "prod", canary: "", legacy: "1" })).toBe(false);
  });

  it("refuses what it cannot read, naming the flag and the part", () => {
    expect(() => parseLabelSelector("tier=web,=x")).toThrow(UsageError);
    expect(() => parseLabelSelector("!a=b")).toThrow(/-l: cannot read "!a=b"/);
  });
});
