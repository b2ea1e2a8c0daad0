// A built node reports the digest of its files as they are on disk when asked: a file changed or
// removed on the server since the build shows in the next answer.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { filesDigest } from "../../../src/model/build-identity.js";
import { buildIdentity } from "../../../src/node/build-identity.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("build identity of a node", () => {
  it("is reported only by a node a build made (TREESCALE_BUILD set)", () => {
    expect(buildIdentity({}, ["/x"])).toBeUndefined();
    expect(buildIdentity({ TREESCALE_BUILD: "" }, ["/x"])).toBeUndefined();
  });

  it("reads its files at each answer: the digest a build computes from the same content, until one changes", async () => {
    dir = await mkdtemp(join(tmpdir(), "ts-build-identity-"));
    const config = join(dir, "treescale.toml");
    const secret = join(dir, "secret");
    await writeFile(config, "current_node = 'a'\n");
    await writeFile(secret, "s3cret\n");
    const identity = buildIdentity({ TREESCALE_BUILD: "0123456789abcdef" }, [config, secret])!;
    const written = filesDigest([
      [secret, "s3cret\n"],
      [config, "current_node = 'a'\n"],
    ]);
    expect(await identity()).toEqual({ id: "0123456789abcdef", files: written });
    await writeFile(config, "current_node = 'b'\n");
    expect((await identity()).files).not.toBe(written);
    await rm(secret);
    expect((await identity()).files).toBe(
      filesDigest([
        [config, "current_node = 'b'\n"],
        [secret, undefined],
      ]),
    );
  });
});
