import { describe, expect, it } from "vitest";
import { repositoryAndTag } from "../../../src/drivers/docker-images.js";

describe("the name an engine tags an image with", () => {
  it("splits repository and tag, a registry's port aside, and gives no name to an ID or a digest", () => {
    expect(repositoryAndTag("app:1.4")).toEqual({ repo: "app", tag: "1.4" });
    expect(repositoryAndTag("registry:5000/team/app")).toEqual({
      repo: "registry:5000/team/app",
      tag: "latest",
    });
    expect(repositoryAndTag("registry:5000/team/app:2")).toEqual({
      repo: "registry:5000/team/app",
      tag: "2",
    });
    expect(repositoryAndTag(`sha256:${"a".repeat(64)}`)).toBeUndefined();
    expect(repositoryAndTag(`app@sha256:${"a".repeat(64)}`)).toBeUndefined();
  });
});
