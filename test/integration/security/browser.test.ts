// What a browser (or a token guesser) can do to a real node process: WebSocket upgrades from a foreign
// Origin are refused with 403 while the node's own origin, listed ones and non-browser clients (no
// Origin) get in; failed authentications from one address are throttled, so that most are never checked.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { encodeControl, FrameType, PROTOCOL_VERSION } from "../../../src/bus/protocol/index.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { clientHello, metric, type RawConnection, rawConnection } from "./raw-connection.js";

const fixture = new BusFixture();
let node: NodeProcess;
let hooked: NodeProcess;
let hook: Server;
let hookCalls = 0;
const opened: RawConnection[] = [];

beforeAll(async () => {
  await fixture.setup();
  // The auth hook counts the checks it is asked for; it accepts nothing.
  hook = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      hookCalls++;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: "error" }));
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/auth`;
  [node, hooked] = await Promise.all([
    fixture.startNode("browser", ["--http", "127.0.0.1:0", "--allow-origin", "https://app.example.com"]),
    fixture.startNode("hooked", ["--http", "127.0.0.1:0", "--auth-hook", hookUrl, "--heartbeat", "1000"]),
  ]);
});

afterAll(async () => {
  for (const connection of opened) connection.destroy();
  hook.closeAllConnections();
  hook.close();
  await fixture.teardown();
});

/** The HTTP status of a WebSocket upgrade: 101 when it opened. */
function upgrade(port: number | undefined, origin: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, origin === undefined ? {} : { origin });
    socket.on("open", () => {
      socket.close();
      resolve(101);
    });
    socket.on("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.on("error", reject);
  });
}

describe("WebSocket origins", () => {
  it("refuses a foreign Origin with 403 and lets in the node's own, listed ones and none", async () => {
    expect(await upgrade(node.http, "https://evil.example")).toBe(403);
    expect(await upgrade(node.http, "null")).toBe(403);
    expect(await upgrade(node.http, `http://127.0.0.1:${node.http}`)).toBe(101);
    expect(await upgrade(node.http, `http://localhost:${node.http}`)).toBe(101);
    expect(await upgrade(node.http, "https://app.example.com")).toBe(101);
    expect(await upgrade(node.http, undefined)).toBe(101);
    await node.waitForLog(/WebSocket refused: origin not allowed .*evil\.example/);
  });

  it("refuses a node link over the WebSocket port", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${node.http}/`);
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(
      encodeControl(FrameType.connect, { protocol: PROTOCOL_VERSION, kind: "node", name: "x", nonce: "ab" }),
    );
    await node.waitForLog(/handshake rejected .*bus listener \(--listen\) only/);
    ws.terminate();
  });
});

describe("failed authentications", () => {
  it("checks only a burst of 200 wrong tokens from one address and then 2 per second; the rest are refused unchecked", async () => {
    const started = Date.now();
    const attempts: RawConnection[] = [];
    for (let i = 0; i < 200; i++) {
      const connection = rawConnection(hooked.port, "127.0.0.3");
      opened.push(connection);
      connection.write(clientHello(`guess-${i}`));
      attempts.push(connection);
      // At most the per-address handshake limit in flight at once.
      if (i % 20 === 19) await Promise.all(attempts.slice(-20).map((attempt) => attempt.closed));
    }
    await Promise.all(attempts.map((attempt) => attempt.closed));
    const elapsedMs = Date.now() - started;
    expect(elapsedMs).toBeLessThan(15_000);
    const codes = attempts.map((attempt) => attempt.errorCode());
    console.info(`200 wrong tokens in ${elapsedMs} ms: ${hookCalls} checked by the hook`);
    // A burst of 20, then 2 per second for as long as the attempts took (a loaded machine is slower).
    const allowed = 20 + Math.ceil((2 * elapsedMs) / 1000);
    expect(hookCalls).toBeLessThanOrEqual(allowed);
    expect(codes.filter((code) => code === "rate_limited").length).toBeGreaterThanOrEqual(200 - allowed);
    expect(await metric(hooked.http, "treescale_bus_auth_throttled_total")).toBeGreaterThanOrEqual(
      200 - allowed,
    );
    // Another address is not held back by this one's failures.
    const other = rawConnection(hooked.port, "127.0.0.4");
    opened.push(other);
    other.write(clientHello("guess-from-elsewhere"));
    await other.closed;
    expect(other.errorCode()).toBe("auth_failed");
  });
});
