// Real node processes for bus integration tests: build once per run, spawn `treescale node` on port 0,
// read its listening line, and kill everything on teardown (also when a test fails).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { BusClient, type ClientOptions, type Message } from "../../src/bus/client/index.js";
import { requireBuild } from "./cli.js";

const root = new URL("../..", import.meta.url).pathname;
export const cliPath = join(root, "dist/cli/treescale.js");

/**
 * The node processes run the built CLI. `npm test` builds before any test starts; building here
 * instead would rewrite dist/ under other test files' running processes.
 */
export async function ensureBuilt(): Promise<void> {
  requireBuild();
}

export interface NodeProcess {
  name: string;
  port: number;
  http?: number;
  url: string;
  process: ChildProcess;
  stderr: string[];
  /** Resolves with the first stderr line matching. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export class BusFixture {
  readonly processes: NodeProcess[] = [];
  readonly clients: BusClient[] = [];
  dir = "";
  tokens = "";
  secret = "";

  async setup(): Promise<void> {
    await ensureBuilt();
    this.dir = await mkdtemp(join(tmpdir(), "treescale-bus-"));
    this.tokens = join(this.dir, "tokens.txt");
    this.secret = join(this.dir, "secret.txt");
    await writeFile(this.tokens, "# test tokens\ngood-token\n\nother-token\n");
    await writeFile(this.secret, "cluster-secret-for-tests\n");
  }

  async teardown(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close().catch(() => {})));
    for (const node of this.processes) {
      node.process.kill("SIGCONT");
      node.process.kill("SIGKILL");
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * The three-level tree the bus tests share: root, with mid and side under it, and leaf under mid;
   * resolves once every link is up. `args` adds flags per node.
   */
  async startTree(
    args: { root?: string[]; mid?: string[] } = {},
  ): Promise<{ root: NodeProcess; mid: NodeProcess; side: NodeProcess; leaf: NodeProcess }> {
    const root = await this.startNode("root", args.root);
    const [mid, side] = await Promise.all([
      this.startNode("mid", ["--parent", root.url, ...(args.mid ?? [])]),
      this.startNode("side", ["--parent", root.url]),
    ]);
    const leaf = await this.startNode("leaf", ["--parent", mid.url]);
    await Promise.all([
      root.waitForLog(/child node linked node="mid"/),
      root.waitForLog(/child node linked node="side"/),
      mid.waitForLog(/child node linked node="leaf"/),
    ]);
    return { root, mid, side, leaf };
  }

  /** Starts `treescale node` with the fixture's tokens and secret; extra args are appended. */
  async startNode(name: string, args: string[] = [], port = 0): Promise<NodeProcess> {
    const child = spawn(
      process.execPath,
      [
        cliPath,
        "node",
        "--name",
        name,
        "--listen",
        `127.0.0.1:${port}`,
        "--tokens",
        this.tokens,
        "--cluster-secret",
        this.secret,
        "--heartbeat",
        "100",
        // Bus tests need no agent: no Docker, no convergence work competing for the CPU.
        "--no-agent",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const stderr: string[] = [];
    const watchers = new Set<(line: string) => void>();
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line);
      for (const watcher of watchers) watcher(line);
    });
    const listening = await new Promise<{ listen: string; http?: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${name} did not start: ${stderr.join("\n")}`)),
        15_000,
      );
      child.once("exit", (code) =>
        reject(new Error(`node ${name} exited with ${code}: ${stderr.join("\n")}`)),
      );
      createInterface({ input: child.stdout! }).once("line", (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { listen: string; http?: string });
      });
    });
    const node: NodeProcess = {
      name,
      port: Number(listening.listen.split(":").pop()),
      url: listening.listen,
      process: child,
      stderr,
      waitForLog: (pattern, timeoutMs = 10_000) => {
        const seen = stderr.find((line) => pattern.test(line));
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            watchers.delete(watch);
            reject(new Error(`node ${name}: no log line matching ${pattern}:\n${stderr.join("\n")}`));
          }, timeoutMs);
          const watch = (line: string) => {
            if (!pattern.test(line)) return;
            clearTimeout(timer);
            watchers.delete(watch);
            resolve(line);
          };
          watchers.add(watch);
        });
      },
      stop: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGCONT");
          child.kill("SIGKILL");
        }),
    };
    if (listening.http) node.http = Number(listening.http.split(":").pop());
    this.processes.push(node);
    return node;
  }

  async client(node: NodeProcess | string, options: Partial<ClientOptions> = {}): Promise<BusClient> {
    const client = await BusClient.connect({
      url: typeof node === "string" ? node : node.url,
      token: "good-token",
      ...options,
    });
    this.clients.push(client);
    return client;
  }
}

export interface TestCertificates {
  /** Paths of PEM files in the fixture's directory. */
  caCert: string;
  /** Signed by the CA for 127.0.0.1 and localhost, usable as server and client certificate. */
  nodeCert: string;
  nodeKey: string;
  /** Signed by the CA; a child node's (client) certificate. */
  clientCert: string;
  clientKey: string;
  /** Self-signed for 127.0.0.1: a certificate from outside the cluster. */
  foreignCert: string;
  foreignKey: string;
}

/** Generates a throwaway CA and certificates with openssl in `dir` (P-256 keys, valid for one day). */
export async function createCertificates(dir: string): Promise<TestCertificates> {
  const run = (args: string[]) => promisify(execFile)("openssl", args, { cwd: dir });
  const file = (name: string) => join(dir, name);
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const san = "subjectAltName=IP:127.0.0.1,DNS:localhost";
  await run([
    "req",
    "-x509",
    ...key,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
    "-days",
    "1",
    "-subj",
    "/CN=treescale test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const signed = async (name: string, commonName: string) => {
    await run([
      "req",
      ...key,
      "-keyout",
      file(`${name}.key`),
      "-out",
      file(`${name}.csr`),
      "-subj",
      `/CN=${commonName}`,
    ]);
    await writeFile(file(`${name}.ext`), `${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    await run([
      "x509",
      "-req",
      "-in",
      file(`${name}.csr`),
      "-CA",
      file("ca.crt"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-out",
      file(`${name}.crt`),
      "-extfile",
      file(`${name}.ext`),
    ]);
  };
  await signed("node", "treescale-node");
  await signed("client", "treescale-child");
  await run([
    "req",
    "-x509",
    ...key,
    "-keyout",
    file("foreign.key"),
    "-out",
    file("foreign.crt"),
    "-days",
    "1",
    "-subj",
    "/CN=foreign-node",
    "-addext",
    san,
  ]);
  return {
    caCert: file("ca.crt"),
    nodeCert: file("node.crt"),
    nodeKey: file("node.key"),
    clientCert: file("client.crt"),
    clientKey: file("client.key"),
    foreignCert: file("foreign.crt"),
    foreignKey: file("foreign.key"),
  };
}

/** Collects messages a client receives; `next()` awaits the next one, with a timeout. */
export function inbox(client: BusClient): {
  messages: Message[];
  next(timeoutMs?: number): Promise<Message>;
} {
  const messages: Message[] = [];
  const waiters: ((message: Message) => void)[] = [];
  client.onMessage((message) => {
    if (message.event === "sync" && finishedSyncs.has(message.text())) return;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  return {
    messages,
    next: (timeoutMs = 5000) => {
      const queued = messages.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
    },
  };
}

/** Waits until `check` holds, polling quickly; for state that has no event to await (e.g. interest). */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until interest has propagated from `subscribers` to `publisher`'s node: publishes a "sync" event
 * (which every subscriber must subscribe to) until each has seen it, then drops those sync messages.
 * Interest keys travel in the same INTEREST frames, so the subscribers' other events have arrived too.
 */
/**
 * Tokens of syncs that are over: sync publishes its token until every subscriber has it, so under load
 * copies can still arrive after it returned; inboxes drop them instead of handing one to a test.
 */
const finishedSyncs = new Set<string>();

export async function sync(
  publisher: BusClient,
  subscribers: ReturnType<typeof inbox>[],
  timeoutMs = 5000,
): Promise<void> {
  const token = Math.random().toString(36).slice(2);
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(subscribers);
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error("interest did not propagate in time");
    publisher.publish("sync", token);
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const subscriber of [...pending]) {
      const index = subscriber.messages.findIndex(
        (message) => message.event === "sync" && message.text() === token,
      );
      if (index >= 0) pending.delete(subscriber);
    }
  }
  finishedSyncs.add(token);
  await new Promise((resolve) => setTimeout(resolve, 30));
  for (const subscriber of subscribers) {
    for (let i = subscriber.messages.length - 1; i >= 0; i--) {
      if (subscriber.messages[i]!.event === "sync") subscriber.messages.splice(i, 1);
    }
  }
}
