// The node-link controller's request as a node takes it: checked before it is obeyed, and the new
// parent kept across a restart (the tree's last word wins over the parent the node was started with).
// In-process nodes over real sockets.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusClient } from "../../../src/bus/client/index.js";
import { REPARENT_EVENT } from "../../../src/model/wire.js";
import type { HostPort } from "../../../src/node/address.js";
import { NodeDaemon } from "../../../src/node/node-daemon.js";
import { pollUntil } from "../../support/poll.js";

const secret = Buffer.from("reparent-test-secret");
const tokens = new Set(["reparent-token"]);
let dir: string;
const running: NodeDaemon[] = [];

function node(name: string, parent?: HostPort): NodeDaemon {
  const daemon = new NodeDaemon({
    name,
    listen: { host: "127.0.0.1", port: 0 },
    ...(parent ? { parent } : {}),
    tokens,
    clusterSecret: secret,
    heartbeatMs: 200,
    home: join(dir, "home"),
    heal: true,
    controllers: [],
  });
  running.push(daemon);
  return daemon;
}

function address(daemon: NodeDaemon): HostPort {
  const [host, port] = daemon.node.describe().listen.split(":");
  return { host: host!, port: Number(port) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-reparent-"));
});

afterAll(async () => {
  await Promise.all(running.map((daemon) => daemon.stop()));
  await rm(dir, { recursive: true, force: true });
});

describe("re-parenting a node", () => {
  it("refuses a malformed request with the reason, moves on a valid one, and keeps the new parent after a restart", async () => {
    const root = node("rp-root");
    await root.start();
    const middle = node("rp-middle", address(root));
    await middle.start();
    let leaf = node("rp-leaf", address(root));
    await leaf.start();
    await pollUntil(
      async () => leaf.node.parentName,
      (parent) => parent === "rp-root",
      5000,
    );
    const client = await BusClient.connect({
      url: root.node.describe().listen,
      token: "reparent-token",
      reconnect: false,
    });
    try {
      const refused = await client.request(
        REPARENT_EVENT,
        { node: "rp-leaf" },
        JSON.stringify({ parent: "rp-middle", host: "127.0.0.1", port: "not a port" }),
        5000,
      );
      expect(refused.json()).toEqual({
        accepted: false,
        reason: "invalid re-parent request: port: must be a whole number from 1 to 65535",
      });
      expect(leaf.node.parentName).toBe("rp-root");

      const { host, port } = address(middle);
      const accepted = await client.request(
        REPARENT_EVENT,
        { node: "rp-leaf" },
        JSON.stringify({ parent: "rp-middle", host, port }),
        5000,
      );
      expect(accepted.json()).toEqual({ accepted: true, parent: "rp-middle" });
    } finally {
      await client.close();
    }
    await pollUntil(
      async () => leaf.node.parentName,
      (parent) => parent === "rp-middle",
      5000,
    );
    expect(
      JSON.parse(await readFile(join(dir, "home", "nodes", "rp-leaf", "parent.json"), "utf8")),
    ).toMatchObject({
      parent: "rp-middle",
    });

    // Restarted with its old --parent: it rejoins where the tree last put it.
    await leaf.stop();
    leaf = node("rp-leaf", address(root));
    await leaf.start();
    expect(
      await pollUntil(
        async () => leaf.node.parentName,
        (parent) => parent !== undefined,
        5000,
      ),
    ).toBe("rp-middle");
  });
});
