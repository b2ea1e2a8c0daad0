// Fault: the network between a parent and its child drops every packet (nftables rules in a table of
// the test's own, on the loopback address the child dials). The parent reports node.down within
// seconds; once the rules are gone the link comes back by itself and an apply converges across it.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Message } from "../../../src/bus/client/index.js";
import { inbox } from "../../support/bus.js";
import { ensureTestImage } from "../../support/docker.js";
import { containersOf, FaultFleet } from "../../support/fault-fleet.js";

const run = promisify(execFile);
const fleet = new FaultFleet("pt");
/** The child dials its parent here; the test's own clients use 127.0.0.1, which stays open. */
const LINK_ADDRESS = "127.0.0.2";
const TABLE = `treescale_fault_${process.pid}`;
let tableAdded = false;

beforeAll(async () => {
  await ensureTestImage();
  await fleet.setup();
  // On every address, so that the child can dial one the partition cuts and the test another.
  await fleet.startNode("root", { tag: "core", args: ["--listen", "0.0.0.0:0"] });
  const root = fleet.node("root");
  const child = await fleet.startNode("c1", {
    parent: "root",
    parentAddress: `${LINK_ADDRESS}:${root.port}`,
  });
  await child.waitForLog(/linked to parent/, 15_000);
  await fleet.writeFleet({ replicas: 2, childs: { root: ["c1"] } });
  const first = await fleet.apply();
  expect(first.code, first.stdout + first.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  if (tableAdded) await run("nft", ["delete", "table", "inet", TABLE]).catch(() => undefined);
  await fleet.teardown();
});

/** Drops every packet of the link: both directions, on the way out and on the way in. */
async function partition(port: number): Promise<void> {
  const rules = `table inet ${TABLE} {
  chain output {
    type filter hook output priority -10; policy accept;
    ip daddr ${LINK_ADDRESS} tcp dport ${port} drop
    ip saddr ${LINK_ADDRESS} tcp sport ${port} drop
  }
  chain input {
    type filter hook input priority -10; policy accept;
    ip daddr ${LINK_ADDRESS} tcp dport ${port} drop
    ip saddr ${LINK_ADDRESS} tcp sport ${port} drop
  }
}
`;
  tableAdded = true;
  const child = execFile("nft", ["-f", "-"]);
  const done = new Promise<void>((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`nft -f exited with ${code}`)))),
  );
  child.stdin?.end(rules);
  await done;
}

async function heal(): Promise<void> {
  await run("nft", ["delete", "table", "inet", TABLE]);
  tableAdded = false;
}

function nodeEvent(messages: Message[], event: string, node: string): boolean {
  return messages.some((m) => m.event === event && (m.json() as { node?: string }).node === node);
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

describe("a partition between parent and child", () => {
  it("node.down on the parent within seconds, node.up after healing, and an apply converges after", async () => {
    const root = fleet.node("root");
    const child = fleet.name("c1");
    const watcher = await fleet.bus.client(root, { events: ["node.down", "node.up"] });
    const events = inbox(watcher);

    await partition(root.port);
    // Heartbeats every second, a link silent for three is down: well within 15 s on a loaded machine.
    const downAfterMs = await waitFor(
      () => nodeEvent(events.messages, "node.down", child),
      15_000,
      "node.down",
    );
    expect(downAfterMs).toBeLessThan(15_000);
    events.messages.length = 0;

    await heal();
    await waitFor(() => nodeEvent(events.messages, "node.up", child), 30_000, "node.up");

    await fleet.writeFleet({ replicas: 2, greeting: "healed", childs: { root: ["c1"] } });
    const applied = await fleet.apply();
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(await containersOf(child, { state: "running" })).toEqual([
      fleet.containerName("c1", 1),
      fleet.containerName("c1", 2),
    ]);
    const inspected = await new Docker().getContainer(fleet.containerName("c1", 1)).inspect();
    expect(inspected.Config.Env).toContain("GREETING=healed");
    const rows = await fleet.status();
    expect(rows).toContainEqual(
      expect.objectContaining({ node: child, resource: "container/web", condition: "Ready", ready: "2/2" }),
    );
  }, 120_000);
});
