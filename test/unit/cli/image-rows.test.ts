import { describe, expect, it } from "vitest";
import { unlisted } from "../../../src/cli/image.js";

describe("get images: whose list is still missing", () => {
  it("nobody, once every linked child below the node asked through answered", () => {
    const listed = [
      { node: "root", children: ["a", "b"] },
      { node: "a", children: ["a1"] },
      { node: "b", children: [] },
      { node: "a1", children: [] },
    ];
    expect(unlisted("root", listed)).toEqual([]);
  });

  it("names a child that did not answer with the node it is linked under", () => {
    expect(
      unlisted("root", [
        { node: "root", children: ["a", "b"] },
        { node: "a", children: ["a1"] },
      ]),
    ).toEqual([
      { child: "b", parent: "root" },
      { child: "a1", parent: "a" },
    ]);
  });

  it("cannot tell before the node asked through answered, or when a node did not name its children", () => {
    expect(unlisted("root", [{ node: "a", children: [] }])).toBeUndefined();
    const older = { node: "a" } as { node: string; children: string[] };
    expect(unlisted("root", [{ node: "root", children: ["a"] }, older])).toBeUndefined();
  });
});
