// `treescale node` as a real process against a Docker engine that takes connections and never answers
// (a hung dockerd, served here on a unix socket): it must still stop at once on SIGTERM, tell an apply
// that it cannot see its containers, and report itself not Ready with the engine's problem. The node's
// Docker deadline is 30 s and no flag or variable shortens it, so no test here waits that long: each
// bound is what a user can expect, and a node that needs the deadline to pass fails the test.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliPath } from "../../support/bus.js";
import { requireBuild, runCli } from "../../support/cli.js";
import { TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";

/** How long a node may take to print its listening line. */
const START_MS = 10_000;
/** How long SIGTERM may take to end a node. */
const STOP_MS = 10_000;
/** Past STOP_MS, how long the test keeps waiting (to measure) before it kills the node. */
const STOP_GRACE_MS = 3_000;
const APPLY_TIMEOUT_S = 5;
/** Starting and ending a CLI process on a busy CI machine, on top of its own --timeout. */
const PROCESS_SLACK_MS = 1_000;
const TOKEN = "hang-token";

/** Accepts every connection and reads the request, then never answers, as a hung dockerd does. */
class HungEngine {
  /** Request lines received, in order: "GET /containers/json?…". */
  readonly requests: string[] = [];
  readonly #connections = new Set<Socket>();
  readonly #server: Server;
  #waiters: (() => void)[] = [];

  constructor(readonly socketPath: string) {
    this.#server = createServer((socket) => {
      this.#connections.add(socket);
      socket.on("close", () => this.#connections.delete(socket));
      socket.on("error", () => undefined);
      let head = "";
      socket.on("data", (chunk: Buffer) => {
        if (head.includes("\r\n")) return;
        head += chunk.toString("latin1");
        if (!head.includes("\r\n")) return;
        this.requests.push(head.slice(0, head.indexOf("\r\n")));
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.socketPath, resolve));
  }

  /** Resolves once the engine has been asked anything. */
  firstRequest(timeoutMs: number): Promise<void> {
    if (this.requests.length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no request to the engine within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

type Stopped = { code: number | null; signal: NodeJS.Signals | null; ms: number };

/** A `treescale node` process with its agent on, its Docker engine at DOCKER_HOST. */
class NodeUnderTest {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #child: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    options: { home: string; tokens: string; dockerHost: string },
  ) {
    const { TREESCALE_NODE: _node, TREESCALE_TOKEN: _token, TREESCALE_HOME: _home, ...env } = process.env;
    this.#child = spawn(
      process.execPath,
      [
        cliPath,
        "node",
        "--name",
        name,
        "--listen",
        "127.0.0.1:0",
        "--home",
        options.home,
        "--tokens",
        options.tokens,
      ],
      { env: { ...env, DOCKER_HOST: options.dockerHost }, stdio: ["ignore", "pipe", "pipe"] },
    );
    createInterface({ input: this.#child.stdout! }).on("line", (line) => this.stdout.push(line));
    createInterface({ input: this.#child.stderr! }).on("line", (line) => this.stderr.push(line));
    this.#exited = new Promise((resolve) =>
      this.#child.once("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The bus address from the node's listening line, which it must print within START_MS. */
  async listening(): Promise<string> {
    const deadline = Date.now() + START_MS;
    for (;;) {
      const line = this.stdout.find((l) => l.includes('"listening"'));
      if (line) return (JSON.parse(line) as { listen: string }).listen;
      if (!this.running)
        throw new Error(`node ${this.name} exited before listening:\n${this.stderr.join("\n")}`);
      if (Date.now() > deadline) {
        throw new Error(
          `node ${this.name} printed no listening line within ${START_MS} ms while its engine hangs:\n` +
            this.stderr.join("\n"),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends SIGTERM and times the exit; a node still running STOP_GRACE_MS past STOP_MS is killed. */
  async terminate(): Promise<Stopped> {
    const began = performance.now();
    this.#child.kill("SIGTERM");
    const killer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_MS + STOP_GRACE_MS);
    const { code, signal } = await this.#exited;
    clearTimeout(killer);
    return { code, signal, ms: Math.round(performance.now() - began) };
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGKILL");
    await this.#exited;
  }
}

let dir: string;
let engine: HungEngine;
let tokens: string;
const nodes: NodeUnderTest[] = [];

beforeEach(async () => {
  requireBuild();
  dir = await mkdtemp(join(tmpdir(), "treescale-engine-hang-"));
  engine = new HungEngine(join(dir, "docker.sock"));
  await engine.listen();
  tokens = join(dir, "tokens.txt");
  await writeFile(tokens, `${TOKEN}\n`);
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((node) => node.kill()));
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

function startNode(): NodeUnderTest {
  const node = new NodeUnderTest(uniqueNodeName("hang"), {
    home: join(dir, "node-home"),
    tokens,
    dockerHost: `unix://${engine.socketPath}`,
  });
  nodes.push(node);
  return node;
}

/** The CLI as a client of the node, in a home of its own. */
const client = (node: string, ...args: string[]) =>
  runCli([...args, "--node", node, "--token", TOKEN], { env: { TREESCALE_HOME: join(dir, "client-home") } });

describe("treescale node — a Docker engine that takes connections and never answers", () => {
  it("SIGTERM right after start ends the node within 10 s with exit code 0", async () => {
    const node = startNode();
    await engine.firstRequest(START_MS);
    const stopped = await node.terminate();
    expect(stopped, node.stderr.join("\n")).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(STOP_MS);
  });

  it("an apply against it ends within its --timeout, exit 1, naming the node as unable to see its objects; SIGTERM then ends the node within 10 s with exit code 0", async () => {
    const node = startNode();
    const url = await node.listening();
    await mkdir(join(dir, "app"));
    await writeFile(
      join(dir, "app", "web.toml"),
      `[containers.web]\nimage = "${TEST_IMAGE}"\ncommand = ["sleep", "3600"]\n`,
    );

    const began = performance.now();
    const apply = await client(url, "apply", "-f", join(dir, "app"), "--timeout", String(APPLY_TIMEOUT_S));
    const applyMs = performance.now() - began;
    expect(apply.code, apply.stdout + apply.stderr).toBe(1);
    expect(applyMs).toBeLessThan(APPLY_TIMEOUT_S * 1000 + PROCESS_SLACK_MS);
    expect(apply.stdout).toMatch(
      new RegExp(`^✗ ${node.name}: unreachable: cannot see its objects: container: `, "m"),
    );
    expect(apply.stdout).toContain("Stack app NOT converged.");
    // Nothing was sent to act on: the engine was only ever asked to list and to stream events.
    expect(engine.requests.filter((request) => !request.startsWith("GET "))).toEqual([]);

    const stopped = await node.terminate();
    expect(stopped, node.stderr.join("\n")).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(STOP_MS);
  });

  // Before the engine's 30 s deadline passes the row reads `NotReady (container: has not listed its
  // objects yet)`; after it, the deadline's message naming the engine's socket.
  it("get nodes reports it NotReady, because it cannot list its containers", async () => {
    const node = startNode();
    const url = await node.listening();
    const result = await client(url, "get", "nodes", "-o", "json");
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { name: string; status: string }[];
    expect(rows.map((row) => row.name)).toEqual([node.name]);
    expect(rows[0]?.status).toMatch(/^NotReady \(container: (has not listed its objects yet|.*timed out)/);
  });
});
