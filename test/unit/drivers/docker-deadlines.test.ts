// The Docker driver against an engine that takes connections and never answers (a hung dockerd):
// every call ends within its deadline with EngineTimeoutError, and an aborted signal ends it at once.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DockerEngine } from "../../../src/drivers/docker.js";
import { DockerEventSource } from "../../../src/drivers/docker-events.js";
import type { ContainerEngine, CreateContainerRequest } from "../../../src/drivers/engine.js";
import { EngineTimeoutError } from "../../../src/drivers/engine-errors.js";
import { AbortedError } from "../../../src/errors.js";
import { containerSpec } from "../../support/specs.js";

const DEADLINE_MS = 300;
// Time for the timer to fire and the rejection to travel on a loaded 2-CPU machine (1.04 s was seen
// under the full suite): what this catches is a call that never returns, not a slow one.
const SLACK_MS = 4_700;

let dir: string;
let socketPath: string;
let server: Server;
let connections: Socket[];
/** What the hung engine does with a request; by default nothing at all. */
let answer: (socket: Socket, head: string) => void;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-hung-engine-"));
  socketPath = join(dir, "docker.sock");
  connections = [];
  answer = () => undefined;
  server = createServer((socket) => {
    connections.push(socket);
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      if (head.includes("\r\n\r\n")) return;
      head += chunk.toString("latin1");
      if (head.includes("\r\n\r\n")) answer(socket, head);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(async () => {
  for (const socket of connections) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function hungEngine(): DockerEngine {
  return new DockerEngine({
    socketPath,
    timeouts: { requestMs: DEADLINE_MS, stopMarginMs: DEADLINE_MS, pullIdleMs: DEADLINE_MS },
  });
}

const request: CreateContainerRequest = {
  name: "shop_web_1_n1",
  node: "n1",
  stack: "shop",
  replica: 1,
  spec: containerSpec("web"),
  hash: "0123456789abcdef",
  fieldHashes: {},
  generation: 1,
};

type Call = {
  call: string;
  names: string;
  run: (engine: ContainerEngine, signal?: AbortSignal) => Promise<unknown>;
};

const CALLS: Call[] = [
  { call: "ping", names: "ping", run: (e, signal) => e.ping({ signal }) },
  {
    call: "listOwned",
    names: 'list the containers of node "n1"',
    run: (e, signal) => e.listOwned("n1", { signal }),
  },
  {
    call: "hasImage",
    names: 'look up image "local/busybox:1"',
    run: (e, signal) => e.hasImage("local/busybox:1", { signal }),
  },
  {
    call: "create",
    names: 'create container "shop_web_1_n1"',
    run: (e, signal) => e.create(request, { signal }),
  },
  { call: "start", names: "start container c0ffee", run: (e, signal) => e.start("c0ffee", { signal }) },
  {
    call: "rename",
    names: 'rename container c0ffee to "shop_web_2_n1"',
    run: (e, signal) => e.rename("c0ffee", "shop_web_2_n1", { signal }),
  },
  {
    call: "remove",
    names: "stop container c0ffee (grace period 0 s)",
    run: (e, signal) => e.remove("c0ffee", 0, { signal }),
  },
  {
    call: "pullImage",
    names: 'pull image "local/busybox:1"',
    run: (e, signal) => e.pullImage("local/busybox:1", () => undefined, { signal }),
  },
];

async function failure(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => new Error("the call succeeded against an engine that never answers"),
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - started };
}

describe("DockerEngine — a hung engine", () => {
  it.each(CALLS)(
    "$call fails with EngineTimeoutError within its deadline, naming what and where",
    async ({ names, run }) => {
      const { error, ms } = await failure(run(hungEngine()));
      expect(error).toBeInstanceOf(EngineTimeoutError);
      expect(error).toMatchObject({ code: "ENGINE_TIMEOUT", operation: names, timeoutMs: DEADLINE_MS });
      const message = (error as Error).message;
      expect(message).toContain(names);
      expect(message).toContain(`unix socket ${socketPath}`);
      expect(message).toContain("docker info");
      // Timers run on the event loop's clock, which may lag the wall clock: the bound only shows it waited.
      expect(ms).toBeGreaterThan(DEADLINE_MS / 2);
      expect(ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(connections.length).toBeGreaterThan(0);
    },
  );

  it.each(CALLS)("$call ends at once with AbortedError when its signal aborts", async ({ names, run }) => {
    const engine = new DockerEngine({ socketPath, timeouts: { requestMs: 60_000, pullIdleMs: 60_000 } });
    const controller = new AbortController();
    const connected = new Promise<void>((resolve) => server.once("connection", () => resolve()));
    const calling = failure(run(engine, controller.signal));
    await connected;
    const abortedAt = Date.now();
    controller.abort(new Error("the node is stopping"));
    const { error } = await calling;
    // A call left to its 300 ms deadline would end in EngineTimeoutError, not AbortedError.
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ code: "ABORTED" });
    expect((error as Error).message).toContain(names);
    expect((error as Error).cause).toMatchObject({ message: "the node is stopping" });
  });

  it.each(CALLS)(
    "$call with a signal aborted beforehand rejects without calling the engine",
    async ({ run }) => {
      const { error } = await failure(run(hungEngine(), AbortSignal.abort()));
      expect(error).toBeInstanceOf(AbortedError);
      expect(connections).toEqual([]);
    },
  );

  it("a stop may take its grace period plus the margin before it counts as hung", async () => {
    const engine = new DockerEngine({ socketPath, timeouts: { requestMs: 100, stopMarginMs: DEADLINE_MS } });
    const { error, ms } = await failure(engine.remove("c0ffee", 1));
    expect(error).toMatchObject({ code: "ENGINE_TIMEOUT", timeoutMs: 1000 + DEADLINE_MS });
    expect(ms).toBeGreaterThanOrEqual(1000 + DEADLINE_MS - 100);
  });

  it("a pull that keeps reporting progress runs past the deadline; one that stalls fails after it", async () => {
    const events = 4;
    answer = (socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
      let sent = 0;
      const tick = setInterval(() => {
        const line = `${JSON.stringify({ status: "Downloading", id: "l1", progressDetail: { current: sent } })}\n`;
        socket.write(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
        sent += 1;
        if (sent === events) clearInterval(tick);
      }, DEADLINE_MS / 2);
      socket.once("close", () => clearInterval(tick));
    };
    const progress: unknown[] = [];
    const { error, ms } = await failure(hungEngine().pullImage("local/busybox:1", (p) => progress.push(p)));
    expect(progress).toHaveLength(events);
    expect(ms).toBeGreaterThan(events * (DEADLINE_MS / 2) + DEADLINE_MS - 100);
    expect(error).toBeInstanceOf(EngineTimeoutError);
    expect((error as Error).message).toMatch(/^pull image "local\/busybox:1" made no progress for 0\.3 s: /);
  });
});

describe("DockerEventSource — a hung engine", () => {
  it("ends the watch with EngineTimeoutError when the engine does not answer within the connect deadline", async () => {
    const events = new DockerEventSource({ socketPath, timeouts: { requestMs: DEADLINE_MS } });
    const started = Date.now();
    const ended = await new Promise<unknown>((resolve) => {
      events.watchEvents("n1", () => undefined, resolve);
    });
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(ended).toBeInstanceOf(EngineTimeoutError);
    expect((ended as Error).message).toContain('open the event stream of node "n1" timed out after 0.3 s');
  });
});
