// A kind registered only here ("toys", test/support/toy-kind.ts) is loaded from manifests,
// planned, sent, acted on and reported through the same code as containers: on the embedded node
// and through a real two-node tree (in-process nodes, real sockets), with no edit to src/.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runFleetApply } from "../../../src/cli/fleet-apply.js";
import { openFleet } from "../../../src/cli/fleet-connection.js";
import { gatherStates } from "../../../src/fleet/fleet-apply.js";
import { loadManifests } from "../../../src/manifest/index.js";
import { NodeDaemon } from "../../../src/node/node-daemon.js";
import { Registry } from "../../../src/reconcile/registry.js";
import { toyKind } from "../../support/toy-kind.js";

let dir: string;
const output: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-toy-"));
  // runFleetApply prints the plan and outcomes as the CLI does: keep them for the assertions.
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    output.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const flags = (stack: string) => ({
  stack,
  prune: true,
  allowEmpty: true,
  dryRun: false,
  output: "text" as const,
  timeoutMs: 20_000,
  gatherMs: 3000,
});

async function manifest(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe("a kind registered only in the tests", () => {
  it("applies through the embedded node: painted, re-applied without change, pruned", async () => {
    const box = join(dir, "embedded-box");
    const kinds = () => [toyKind(box)];
    const registry = new Registry(kinds());
    process.env.TREESCALE_HOME = join(dir, "embedded-home");
    const file = await manifest("toys.toml", '[toys.duck]\ncolor = "yellow"\n');
    const apply = async (path: string) => {
      const loaded = await loadManifests([path], undefined, { sections: registry.sections() });
      expect(loaded.issues).toEqual([]);
      const fleet = await openFleet({ name: "toybox" }, kinds);
      try {
        output.length = 0;
        return await runFleetApply(fleet.bus, loaded, registry, flags("pond"), fleet);
      } finally {
        await fleet.close();
      }
    };
    expect(await apply(file)).toBe(0);
    expect(output.join("")).toMatch(/\+ paint\s+toy duck\s+yellow/);
    expect(await readFile(join(box, "pond", "duck"), "utf8")).toBe("yellow");

    expect(await apply(file)).toBe(0);
    expect(output.join("")).toContain("No changes.");

    const none = await manifest("empty.toml", "");
    expect(await apply(none)).toBe(0);
    expect(output.join("")).toMatch(/- throw\s+toy duck\s+left the manifests/);
    await expect(readFile(join(box, "pond", "duck"), "utf8")).rejects.toThrow();
  });

  it("a bad value in the kind's own section is a located manifest error", async () => {
    const registry = new Registry([toyKind(join(dir, "unused"))]);
    const file = await manifest("bad.toml", '[toys.duck]\ncolor = "Yellow!"\n');
    const loaded = await loadManifests([file], undefined, { sections: registry.sections() });
    expect(loaded.issues).toMatchObject([{ file, line: 2, path: "toys.duck.color" }]);
  });

  it("applies through a two-node tree: each node paints in its own box", async () => {
    const secret = Buffer.from("toy-cluster-secret");
    const tokens = new Set(["toy-token"]);
    const root = new NodeDaemon({
      name: "toyroot",
      listen: { host: "127.0.0.1", port: 0 },
      tokens,
      clusterSecret: secret,
      home: join(dir, "root-home"),
      heal: true,
      controllers: [toyKind(join(dir, "root-box"))],
    });
    await root.start();
    const [host, port] = root.node.describe().listen.split(":");
    const child = new NodeDaemon({
      name: "toychild",
      listen: { host: "127.0.0.1", port: 0 },
      parent: { host: host!, port: Number(port) },
      tokens,
      clusterSecret: secret,
      home: join(dir, "child-home"),
      heal: true,
      controllers: [toyKind(join(dir, "child-box"))],
    });
    await child.start();
    const registry = new Registry([toyKind(join(dir, "unused"))]);
    const fleet = await openFleet(
      { name: "unused", node: root.node.describe().listen, token: "toy-token" },
      () => [],
    );
    try {
      // The child's link and interest reach the root within a few heartbeats.
      const deadline = Date.now() + 10_000;
      while ((await gatherStates(fleet.bus, 500)).length < 2 && Date.now() < deadline);
      const file = await manifest(
        "tree.toml",
        `[servers.toyroot]\nip = "${host}"\nservice_port = ${port}\nchilds = ["toychild"]\n\n` +
          '[servers.toychild]\nip = "127.0.0.1"\n\n[toys.frog]\ncolor = "green"\n',
      );
      const loaded = await loadManifests([file], undefined, { sections: registry.sections() });
      expect(loaded.issues).toEqual([]);
      output.length = 0;
      expect(await runFleetApply(fleet.bus, loaded, registry, flags("pond"))).toBe(0);
      expect(output.join("")).toMatch(/node toychild:\n\s+\+ paint\s+toy frog\s+green/);
      expect(await readFile(join(dir, "root-box", "pond", "frog"), "utf8")).toBe("green");
      expect(await readFile(join(dir, "child-box", "pond", "frog"), "utf8")).toBe("green");
      const states = await gatherStates(fleet.bus, 3000, ["toyroot", "toychild"]);
      expect(states.map((s) => s.stacks.pond?.statuses.map((st) => [st.resource, st.condition]))).toEqual([
        [["toy/frog", "Ready"]],
        [["toy/frog", "Ready"]],
      ]);
    } finally {
      await fleet.close();
      await child.stop();
      await root.stop();
    }
  });
});
