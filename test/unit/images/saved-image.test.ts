import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readSavedImage } from "../../../src/images/saved-image.js";

const run = promisify(execFile);
const HEX = "ab".repeat(32);

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tssaved-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tar made by GNU tar (pax format) of `files`, in that order: manifest.json last, as docker saves. */
async function archive(files: Record<string, string | Uint8Array>): Promise<string> {
  const root = join(dir, "in");
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, ".."), { recursive: true });
    await writeFile(join(root, name), content);
  }
  const path = join(dir, "image.tar");
  await run("tar", ["--format=pax", "-cf", path, "-C", root, ...Object.keys(files)]);
  return path;
}

describe("readSavedImage", () => {
  it("reads the ID and first tag of a classic docker save archive, past its layers, with its size", async () => {
    const layer = new Uint8Array(3 * 1024 * 1024 + 7).fill(9);
    const path = await archive({
      [`${"cd".repeat(32)}/layer.tar`]: layer,
      [`${HEX}.json`]: "{}",
      "manifest.json": JSON.stringify([{ Config: `${HEX}.json`, RepoTags: ["app:1.4", "app:latest"] }]),
    });
    const image = await readSavedImage(path);
    expect(image).toMatchObject({ id: `sha256:${HEX}`, reference: "app:1.4" });
    expect(image.size).toBeGreaterThan(layer.length);
  });

  it("reads the OCI layout of newer engines, and a member with a name too long for the header", async () => {
    const path = await archive({
      [`blobs/sha256/${"x".repeat(120)}`]: "long",
      "manifest.json": JSON.stringify([{ Config: `blobs/sha256/${HEX}`, RepoTags: null }]),
    });
    // Untagged: the ID is its name.
    expect(await readSavedImage(path)).toMatchObject({ id: `sha256:${HEX}`, reference: `sha256:${HEX}` });
  });

  it("says what is wrong with an archive it cannot push, naming the file", async () => {
    const noManifest = await archive({ "layer.tar": "x" });
    await expect(readSavedImage(noManifest)).rejects.toThrow(
      `${noManifest}: no manifest.json in it: not an archive \`docker save\` wrote`,
    );
    const two = await archive({
      "manifest.json": JSON.stringify([{ Config: `${HEX}.json` }, { Config: `${HEX}.json` }]),
    });
    await expect(readSavedImage(two)).rejects.toThrow("it holds 2 images: push one at a time");
    const noConfig = await archive({ "manifest.json": JSON.stringify([{ RepoTags: ["a:1"] }]) });
    await expect(readSavedImage(noConfig)).rejects.toThrow("names no config digest (Config)");
    const text = join(dir, "notes.txt");
    await writeFile(text, "not a tar\n".repeat(100));
    await expect(readSavedImage(text)).rejects.toThrow(
      `${text}: not a tar archive (a bad header checksum at byte 0)`,
    );
    await expect(readSavedImage(join(dir, "missing.tar"))).rejects.toThrow("cannot read it: ENOENT");
  });
});
