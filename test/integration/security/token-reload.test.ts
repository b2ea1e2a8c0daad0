// The token file is re-read while the node runs (#10): on change and on SIGHUP. A token added is accepted
// without a restart; a token removed closes its connected clients with ERROR token_revoked and is refused
// from then on; a file that fails to parse keeps the tokens in force and logs where it is broken.
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusClient } from "../../../src/bus/client/index.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { pollUntil } from "../../support/poll.js";

const fixture = new BusFixture();
let node: NodeProcess;

function tokenFile(...tokens: string[]): string {
  return tokens.map((token) => `[[token]]\ntoken = "${token}"\nallow = ["*"]\n`).join("\n");
}

/** As an editor saves: a new file renamed over the old one. */
async function save(text: string): Promise<void> {
  const temporary = `${fixture.tokens}.new`;
  await writeFile(temporary, text);
  await rename(temporary, fixture.tokens);
}

async function admitted(token: string): Promise<string> {
  try {
    const client = await BusClient.connect({
      url: node.url,
      token,
      reconnect: false,
      handshakeTimeoutMs: 3000,
    });
    await client.close();
    return "ready";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

beforeAll(async () => {
  await fixture.setup();
  fixture.tokens = join(fixture.dir, "tokens.toml");
  await writeFile(fixture.tokens, tokenFile("keep-token", "old-token"));
  node = await fixture.startNode("reload");
});

afterAll(async () => {
  await fixture.teardown();
});

describe("token file reload", () => {
  it("a token added is accepted and a token removed closes its client with token_revoked, without a restart", async () => {
    expect(await admitted("new-token")).toBe("auth_failed");
    const kept = await fixture.client(node, { token: "keep-token", reconnect: false });
    const revoked = await fixture.client(node, { token: "old-token", reconnect: false });
    await save(tokenFile("keep-token", "new-token"));
    const closed = await revoked.closed;
    expect(closed?.code).toBe("token_revoked");
    expect(closed?.message).toMatch(/removed from \(or changed in\) the node's token file .*tokens\.toml/);
    expect(await admitted("new-token")).toBe("ready");
    expect(await admitted("old-token")).toBe("auth_failed");
    // The client of a token that stayed is untouched: it still gets what it asks for.
    expect(kept.isReady).toBe(true);
    await kept.confirm();
    await node.waitForLog(/token file reloaded .*why="file changed" tokens=2 closed=1/);
  }, 30_000);

  it("a file that fails to parse keeps the tokens in force and logs file:line:column; SIGHUP re-reads it", async () => {
    await save(tokenFile("keep-token", "new-token").replace('allow = ["*"]', 'allow = ["*"'));
    const line = await node.waitForLog(/token file not reloaded; the previous tokens stay in force/);
    expect(line).toMatch(/tokens\.toml:\d+:\d+: not valid TOML/);
    expect(await admitted("new-token")).toBe("ready");
    // Fixed by hand, then signalled: the reload also runs on SIGHUP (and the node survives it).
    await writeFile(fixture.tokens, tokenFile("keep-token", "hup-token"));
    node.process.kill("SIGHUP");
    await pollUntil(
      async () => admitted("hup-token"),
      (result) => result === "ready",
      10_000,
    );
    await node.waitForLog(/token file reloaded .*why="SIGHUP"/);
    expect(await admitted("new-token")).toBe("auth_failed");
  }, 30_000);
});
