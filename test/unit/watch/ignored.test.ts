import { describe, expect, it } from "vitest";
import { isIgnored } from "../../../src/watch/debounced-watcher.js";

describe("watch: which paths are not manifests", () => {
  it("ignores hidden files and directories below a watched root, and editor leftovers", () => {
    const roots = ["/home/me/.config/fleet"];
    expect(isIgnored(roots, "/home/me/.config/fleet/web.toml")).toBe(false);
    expect(isIgnored(roots, "/home/me/.config/fleet/sub/api.yaml")).toBe(false);
    expect(isIgnored(roots, "/home/me/.config/fleet/.state/nodes/x/slice.json")).toBe(true);
    expect(isIgnored(roots, "/home/me/.config/fleet/.web.toml.swp")).toBe(true);
    expect(isIgnored(roots, "/home/me/.config/fleet/web.toml~")).toBe(true);
    expect(isIgnored(roots, "/home/me/.config/fleet")).toBe(false);
  });
});
