// Handshake and hostile input against real node processes: token file, auth hook (accepting, refusing,
// hanging), wrong cluster secret, and garbage or oversized frames that must close only their connection.

import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeControl, encodeControl, FrameType, frameType } from "../../../src/bus/protocol/index.js";
import { BusFixture, inbox, type NodeProcess } from "../../support/bus.js";

const fixture = new BusFixture();
let node: NodeProcess;
let hooked: NodeProcess;
let hook: Server;
const hookCalls: unknown[] = [];

beforeAll(async () => {
  await fixture.setup();
  hook = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const parsed = JSON.parse(body) as { token: string };
      hookCalls.push(parsed);
      if (parsed.token === "hook-hangs") return; // never answers
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: parsed.token === "hook-good" ? "success" : "error" }));
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  const hookPort = (hook.address() as { port: number }).port;
  [node, hooked] = await Promise.all([
    fixture.startNode("auth-node", ["--max-frame", "65536"]),
    fixture.startNode("hook-node", [
      "--auth-hook",
      `http://127.0.0.1:${hookPort}/auth`,
      "--auth-hook-timeout",
      "300",
    ]),
  ]);
});

afterAll(async () => {
  hook.closeAllConnections();
  hook.close();
  await fixture.teardown();
});

/** Opens a raw socket and collects the frames the node sends until it closes. */
function rawSocket(port: number): { socket: Socket; closed: Promise<Uint8Array> } {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk) => chunks.push(chunk));
  socket.on("error", () => {});
  const closed = new Promise<Uint8Array>((resolve) =>
    socket.on("close", () => resolve(Buffer.concat(chunks))),
  );
  return { socket, closed };
}

function errorCodeIn(bytes: Uint8Array): string | undefined {
  let offset = 0;
  while (offset + 4 <= bytes.length) {
    const length = Buffer.from(bytes).readUInt32BE(offset);
    const frame = bytes.subarray(offset, offset + 4 + length);
    if (frameType(frame) === FrameType.error) return (decodeControl(frame) as { code: string }).code;
    offset += 4 + length;
  }
  return undefined;
}

describe("bus auth — token file", () => {
  it("accepts a listed token and rejects others with auth_failed, logging the attempt", async () => {
    await expect(fixture.client(node, { token: "other-token" })).resolves.toBeDefined();
    await expect(fixture.client(node, { token: "wrong" })).rejects.toMatchObject({ code: "auth_failed" });
    await expect(fixture.client(node, { token: undefined })).rejects.toMatchObject({ code: "auth_failed" });
    await node.waitForLog(/handshake rejected .*token not in the token file/);
  });

  it("delivers and accepts nothing before ready", async () => {
    const { socket, closed } = rawSocket(node.port);
    socket.write(encodeControl(FrameType.connect, { protocol: 1, kind: "client", token: "good-token" }));
    socket.write(Buffer.from(encodeRoutedPublish()));
    expect(errorCodeIn(await closed)).toBe("not_ready");
  });
});

function encodeRoutedPublish(): Uint8Array {
  // A PUBLISH sent before DECLARE/READY.
  const event = Buffer.from("x");
  const header = Buffer.concat([Buffer.alloc(4), Buffer.from([1]), event, Buffer.alloc(6)]);
  const frame = Buffer.alloc(8 + header.length);
  frame.writeUInt32BE(frame.length - 4, 0);
  frame[4] = FrameType.publish;
  frame.writeUInt16BE(header.length, 6);
  header.copy(frame, 8);
  return frame;
}

describe("bus auth — hook", () => {
  it("accepts only {status: success} and rejects a hook that hangs, within its timeout", async () => {
    await expect(fixture.client(hooked, { token: "hook-good" })).resolves.toBeDefined();
    await expect(fixture.client(hooked, { token: "hook-bad" })).rejects.toMatchObject({
      code: "auth_failed",
    });
    const started = Date.now();
    await expect(fixture.client(hooked, { token: "hook-hangs" })).rejects.toMatchObject({
      code: "auth_failed",
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(hookCalls).toContainEqual(expect.objectContaining({ token: "hook-good", node: "hook-node" }));
    await hooked.waitForLog(/auth hook did not answer within 300 ms/);
  });
});

describe("bus auth — node links", () => {
  it("refuses a child with the wrong cluster secret; the secret never crosses the wire", async () => {
    const wrong = join(fixture.dir, "wrong-secret.txt");
    await writeFile(wrong, "not-the-secret\n");
    const intruder = await fixture.startNode("intruder", ["--parent", node.url, "--cluster-secret", wrong]);
    // The child checks the parent's proof first, finds it wrong, and reports auth_failed to the parent.
    await intruder.waitForLog(/parent failed the cluster-secret challenge/);
    await node.waitForLog(/peer="intruder" code="auth_failed"/);
    expect(node.stderr.some((line) => line.includes("child node linked"))).toBe(false);
    await intruder.stop();

    const spy = rawSocket(node.port);
    spy.socket.write(
      encodeControl(FrameType.connect, { protocol: 1, kind: "node", name: "spy", nonce: "ab" }),
    );
    const seen = Buffer.from(await spy.closed).toString("latin1");
    expect(seen).toContain('"proof"');
    expect(seen).not.toContain("cluster-secret-for-tests");
  });
});

describe("bus hostile input", () => {
  it("closes a connection that sends garbage or an oversized frame and keeps serving the others", async () => {
    const healthy = inbox(await fixture.client(node, { events: ["still.alive"] }));
    const publisher = await fixture.client(node, { events: [] });

    const garbage = rawSocket(node.port);
    garbage.socket.write(Buffer.from([0, 0, 0, 1, 0xff]));
    expect(errorCodeIn(await garbage.closed)).toBe("protocol_error");

    const oversized = rawSocket(node.port);
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(10 * 1024 * 1024, 0);
    prefix[4] = FrameType.publish;
    oversized.socket.write(prefix);
    expect(errorCodeIn(await oversized.closed)).toBe("frame_too_large");

    const junkJson = rawSocket(node.port);
    junkJson.socket.write(
      Buffer.concat([Buffer.from([0, 0, 0, 7, FrameType.connect, 0, 0, 0]), Buffer.from("{{{")]),
    );
    expect(errorCodeIn(await junkJson.closed)).toBe("protocol_error");

    publisher.publish("still.alive", "yes");
    expect((await healthy.next()).text()).toBe("yes");
    expect(node.process.exitCode).toBeNull();
  });
});
