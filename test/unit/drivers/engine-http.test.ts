import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EngineHttpClient } from "../../../src/drivers/engine-http.js";

let dir: string;
let server: Server;
let socketPath: string;
let connections: Socket[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-engine-"));
  socketPath = join(dir, "docker.sock");
  connections = [];
  // An engine that accepts and never answers: what a hung dockerd looks like from outside. It reads
  // the request, so it sees the client hang up.
  server = createServer((socket) => {
    connections.push(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(async () => {
  for (const socket of connections) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function closed(socket: Socket): Promise<void> {
  return socket.closed || socket.destroyed ? Promise.resolve() : new Promise((r) => socket.once("close", r));
}

describe("engine HTTP reads", () => {
  it("end at once when their signal aborts, and close the connection", async () => {
    const client = new EngineHttpClient({ kind: "socket", socketPath }, undefined);
    const controller = new AbortController();
    const reading = client.get("/containers/json", {}, controller.signal);
    await new Promise<void>((resolve) => server.once("connection", () => resolve()));
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    await closed(connections[0]!);
  });
});

describe("engine HTTP streams", () => {
  it("end with the connect error when no answer arrives within the connect deadline", async () => {
    const client = new EngineHttpClient({ kind: "socket", socketPath }, undefined);
    const ended = new Promise<unknown>((resolve) => {
      client.stream("/events", () => undefined, resolve, {
        timeoutMs: 100,
        timedOut: () => new Error("no answer in time"),
      });
    });
    const started = Date.now();
    await expect(ended).resolves.toMatchObject({ message: "no answer in time" });
    expect(Date.now() - started).toBeLessThan(2000);
    await closed(connections[0]!);
  });

  it("keep no deadline once the engine answered: a quiet stream stays open", async () => {
    server.removeAllListeners("connection");
    server.on("connection", (socket) => {
      connections.push(socket);
      socket.resume();
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    });
    const client = new EngineHttpClient({ kind: "socket", socketPath }, undefined);
    const ends: unknown[] = [];
    let answered: () => void = () => undefined;
    const lines: string[] = [];
    const stop = client.stream(
      "/events",
      (line) => {
        lines.push(line);
        answered();
      },
      (error) => ends.push(error),
      { timeoutMs: 50, timedOut: () => new Error("no answer in time") },
    );
    await new Promise<void>((resolve) => server.once("connection", () => resolve()));
    // Well past the connect deadline, then one event: the stream must still be there to carry it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const line = '{"Action":"start"}\n';
    const delivered = new Promise<void>((resolve) => (answered = resolve));
    connections[0]!.write(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
    await delivered;
    expect(lines).toEqual(['{"Action":"start"}']);
    expect(ends).toEqual([]);
    stop();
  });
});
