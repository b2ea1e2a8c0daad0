import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTokens } from "../../../src/bus/server/auth.js";
import { nodeOptionsFromFlags } from "../../../src/cli/node.js";
import { UsageError } from "../../../src/errors.js";
import { parseHostPort } from "../../../src/node/address.js";
import { loadSeedNode } from "../../../src/node/seed-config.js";

const seedFile = fileURLToPath(new URL("../../../manifests/seed/treescale.toml", import.meta.url));
let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-seed-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The project's real seed file, copied, with edits applied to its text. */
async function seedCopy(edit: (text: string) => string = (text) => text): Promise<string> {
  const file = join(dir, `treescale-${Math.random().toString(36).slice(2)}.toml`);
  await writeFile(file, edit(await readFile(seedFile, "utf8")));
  return file;
}

describe("node config from the seed file", () => {
  it("takes port and tags from the real seed file, and the parent from the server whose childs list it", async () => {
    const file = await seedCopy();
    expect(await loadSeedNode(file, "node2")).toEqual({
      name: "node2",
      ip: "192.168.107.107",
      servicePort: 8888,
      tags: ["test_node", "first_node"],
      parent: { name: "node1", ip: "192.168.107.106", servicePort: 8888 },
    });
    expect((await loadSeedNode(file, "node1")).parent).toBeUndefined();
  });

  it("takes the node's default image_source from its server, and says what it takes", async () => {
    const tree = await seedCopy((text) =>
      text.replace("[servers.node2]", '[servers.node2]\n    image_source = "tree"'),
    );
    expect((await loadSeedNode(tree, "node2")).imageSource).toBe("tree");
    expect((await loadSeedNode(tree, "node1")).imageSource).toBeUndefined();
    const wrong = await seedCopy((text) =>
      text.replace("[servers.node2]", '[servers.node2]\n    image_source = "ftp"'),
    );
    await expect(loadSeedNode(wrong, "node2")).rejects.toThrow(/image_source.*"registry" or "tree"/s);
  });

  it("defaults the name to current_node", async () => {
    const file = await seedCopy((text) => text.replace('current_node=""', 'current_node="node2"'));
    expect((await loadSeedNode(file, undefined)).name).toBe("node2");
  });

  it("asks for --name when the file sets no current_node, and names the known servers", async () => {
    const file = await seedCopy();
    await expect(loadSeedNode(file, undefined)).rejects.toThrow(/pass --name/);
    await expect(loadSeedNode(file, "nope")).rejects.toThrow(/servers: node1, node2/);
  });

  it("reports manifest issues with file and line", async () => {
    const file = await seedCopy((text) => text.replace("service_port=8888", 'service_port="x"'));
    await expect(loadSeedNode(file, "node1")).rejects.toThrow(/treescale-.*\.toml:\d+:\d+/);
  });

  it("treescale node flags: listen port, tags and parent come from the seed file", async () => {
    const file = await seedCopy((text) => text.replace(/service_port=8888/g, "service_port=7123"));
    const flags = {
      config: file,
      name: "node2",
      tag: ["extra"],
      authHookTimeout: "2000",
      heartbeat: "1000",
      maxFrame: "1024",
      maxPending: "1024",
      agent: false,
      heal: false,
      resync: "60",
      stopTimeout: "10",
      parallel: "16",
    };
    // The seed listens on every address: without tokens that needs the explicit opt-in.
    const options = await nodeOptionsFromFlags({ ...flags, insecure: true });
    expect(options.listen).toEqual({ host: "0.0.0.0", port: 7123 });
    expect(options.parent).toEqual({ host: "192.168.107.106", port: 7123 });
    expect(options.tags).toEqual(["extra", "test_node", "first_node"]);
    await expect(nodeOptionsFromFlags(flags)).rejects.toThrow(
      /accept anyone on a non-loopback address: give --tokens/,
    );
  });
});

describe("node flags", () => {
  it("parses host:port flags and refuses others as usage errors", () => {
    expect(parseHostPort("127.0.0.1:7000", "--listen")).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(parseHostPort("[::1]:7", "--listen")).toEqual({ host: "::1", port: 7 });
    expect(parseHostPort("tls://h:1", "--parent")).toEqual({ host: "h", port: 1 });
    expect(() => parseHostPort("nope", "--listen")).toThrow(UsageError);
  });

  it("reads one token per line, skipping comments and blanks", () => {
    expect([...parseTokens("# comment\n a \n\nb\r\n")]).toEqual(["a", "b"]);
  });
});
