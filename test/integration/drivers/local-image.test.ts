// The node image a build sends, read from this machine's real engine through the Engine API: its ID
// as docker reports it, its export a `docker save` archive, a missing tag a clear error.
import { spawn } from "node:child_process";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { localImage } from "../../../src/drivers/local-image.js";
import { ensureTestImage, TEST_IMAGE } from "../../support/docker.js";

describe("local image (real dockerd)", () => {
  beforeAll(() => ensureTestImage(), 120_000);

  it("reads the image's ID as the engine has it", async () => {
    const { Id } = await new Docker().getImage(TEST_IMAGE).inspect();
    expect(await localImage(TEST_IMAGE).id()).toBe(Id);
  });

  it("exports the image as docker save does: an archive docker load takes", async () => {
    // tar lists the archive as it streams in.
    const tar = spawn("tar", ["-tf", "-"], { stdio: ["pipe", "pipe", "inherit"] });
    let listing = "";
    tar.stdout.on("data", (chunk: Buffer) => {
      listing += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => tar.on("exit", resolve));
    localImage(TEST_IMAGE).save().pipe(tar.stdin);
    expect(await exited).toBe(0);
    const entries = listing.split("\n");
    expect(entries).toContain("manifest.json");
    expect(entries.some((name) => name.endsWith("/layer.tar") || name.startsWith("blobs/"))).toBe(true);
  });

  it("a tag the engine lacks fails with what to do, for both reads", async () => {
    const image = localImage("treescale/node:no-such-tag");
    await expect(image.id()).rejects.toThrow(
      /treescale\/node:no-such-tag is not on this machine's Docker engine .*scripts\/build-node-image\.sh/,
    );
    const failed = new Promise<Error>((resolve) => image.save().on("error", resolve).resume());
    expect((await failed).message).toMatch(/404|No such image/i);
  });
});
