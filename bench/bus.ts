// `npm run bench -- bus`: TreeScale's bus against Redis pub/sub, NATS and a raw batched-TCP relay, in one
// run on loopback. Every system gets the same harness: 1 publisher, 4 subscribers, a bounded in-flight
// window, stock Node clients. TreeScale runs two node processes (publisher on one, subscribers on the other).
// The round trip (bus-round-trip.ts) sets TreeScale's 1-node and 2-hop rows beside peers of the same shapes.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect as natsConnect } from "nats";
import { createClient } from "redis";
import { BusClient } from "../src/bus/client/index.js";
import {
  freePort,
  HOP_COSTS,
  type HopPeers,
  measureRoundTrips,
  type Percentiles,
  ROW,
  roundTripSystems,
  startHopPeers,
  waitPort,
} from "./bus-round-trip.js";

const cli = new URL("../src/cli/main.js", import.meta.url).pathname;
const SUBSCRIBERS = 4;

interface PubSub {
  name: string;
  /** Connects subscribers calling onMessage(bytes) and returns publish/flush/close. */
  open(onMessage: (bytes: number) => void): Promise<{
    publish(payload: Uint8Array): void;
    flush(): Promise<void>;
    close(): Promise<void>;
  }>;
}

interface Throughput {
  msgs: number;
  mbps: number;
}

const children: ChildProcess[] = [];
function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}
function stopAll(): void {
  for (const child of children.splice(0)) {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  }
}

async function startTreeNode(
  dir: string,
  name: string,
  extra: string[],
): Promise<{ url: string; child: ChildProcess }> {
  const child = start(process.execPath, [
    cli,
    "node",
    "--name",
    name,
    "--listen",
    "127.0.0.1:0",
    "--cluster-secret",
    join(dir, "secret"),
    // The bus alone, as the brokers beside it: no agent converging Docker containers.
    "--no-agent",
    ...extra,
  ]);
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`node ${name} exited ${code}`)));
    createInterface({ input: child.stdout! }).once("line", resolve);
  });
  return { url: (JSON.parse(line) as { listen: string }).listen, child };
}

/** Publishes `count` messages with at most `window` in flight (per subscriber), timing full delivery. */
async function measure(system: PubSub, size: number, count: number, window: number): Promise<Throughput> {
  let received = 0;
  let wake: (() => void) | undefined;
  const target = count * SUBSCRIBERS;
  const session = await system.open(() => {
    received++;
    if (wake) {
      const w = wake;
      wake = undefined;
      w();
    }
  });
  const payload = new Uint8Array(size).fill(120);
  // Warm-up so that connections and JIT are settled.
  for (let i = 0; i < Math.min(1000, count / 10); i++) session.publish(payload);
  await session.flush();
  const warm = Math.min(1000, count / 10) * SUBSCRIBERS;
  while (received < warm) await new Promise<void>((resolve) => (wake = resolve));
  received = 0;
  const started = process.hrtime.bigint();
  let sent = 0;
  const batch = Math.max(1, Math.floor(window / 4));
  while (sent < count) {
    while (sent - received / SUBSCRIBERS > window) await new Promise<void>((resolve) => (wake = resolve));
    const n = Math.min(batch, count - sent);
    for (let i = 0; i < n; i++) session.publish(payload);
    sent += n;
    await session.flush();
  }
  while (received < target) await new Promise<void>((resolve) => (wake = resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await session.close();
  return { msgs: target / seconds, mbps: (target * size) / seconds / 1e6 };
}

// ---- systems ----

function redisSystem(url: string): PubSub {
  return {
    name: "Redis",
    async open(onMessage) {
      const publisher = createClient({ url });
      await publisher.connect();
      const subscribers = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, async () => {
          const subscriber = publisher.duplicate();
          await subscriber.connect();
          await subscriber.subscribe("bench", (message: Buffer) => onMessage(message.length), true);
          return subscriber;
        }),
      );
      let inflight: Promise<unknown>[] = [];
      return {
        publish: (payload) =>
          inflight.push(
            publisher.publish("bench", Buffer.from(payload.buffer, payload.byteOffset, payload.length)),
          ),
        flush: async () => {
          const all = inflight;
          inflight = [];
          await Promise.all(all);
        },
        close: async () => {
          for (const subscriber of subscribers) subscriber.destroy();
          publisher.destroy();
        },
      };
    },
  };
}

function natsSystem(servers: string): PubSub {
  return {
    name: "NATS",
    async open(onMessage) {
      const publisher = await natsConnect({ servers });
      const subscribers = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, async () => {
          const nc = await natsConnect({ servers });
          nc.subscribe("bench", { callback: (_error, message) => onMessage(message.data.length) });
          await nc.flush();
          return nc;
        }),
      );
      return {
        publish: (payload) => publisher.publish("bench", payload),
        flush: () => publisher.flush(),
        close: async () => {
          await Promise.all([publisher, ...subscribers].map((nc) => nc.close()));
        },
      };
    },
  };
}

function treeSystem(publishUrl: string, subscribeUrl: string): PubSub {
  return {
    name: "TreeScale (2 hops)",
    async open(onMessage) {
      const subscribers = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, async () => {
          const client = await BusClient.connect({ url: subscribeUrl, events: ["bench", "bench.sync"] });
          client.onMessage((message) => onMessage(message.data.length));
          return client;
        }),
      );
      const publisher = await BusClient.connect({ url: publishUrl, events: [] });
      // Wait for the subscribers' interest to reach the publisher's node.
      let synced = 0;
      const off = subscribers.map((client) => client.onMessage((m) => m.event === "bench.sync" && synced++));
      while (synced < SUBSCRIBERS) {
        publisher.publish("bench.sync");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const stop of off) stop();
      return {
        publish: (payload) => publisher.publish("bench", payload),
        flush: () => publisher.flush(),
        close: async () => {
          await Promise.all([publisher, ...subscribers].map((client) => client.close()));
        },
      };
    },
  };
}

/** The ceiling: a relay process forwarding raw chunks of length-prefixed frames to every subscriber. */
const RELAY = `
const net = require("node:net");
const subs = [];
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.once("data", (first) => {
    if (first[0] === 83) { subs.push(s); s.write("k"); return; }
    const fan = (chunk) => { for (const sub of subs) sub.write(chunk); };
    fan(first.subarray(1));
    s.on("data", fan);
  });
  s.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

function rawSystem(port: number): PubSub {
  return {
    name: "raw TCP relay",
    async open(onMessage) {
      const subscribers = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, async () => {
          const socket = netConnect({ host: "127.0.0.1", port });
          socket.setNoDelay(true);
          await new Promise((resolve) => socket.once("connect", resolve));
          socket.write("S");
          await new Promise((resolve) => socket.once("data", resolve));
          let pending = 0;
          let header = Buffer.alloc(0);
          socket.on("data", (chunk: Buffer) => {
            let offset = 0;
            while (offset < chunk.length) {
              if (pending > 0) {
                const take = Math.min(pending, chunk.length - offset);
                pending -= take;
                offset += take;
                if (pending === 0) onMessage(0);
                continue;
              }
              const need = 4 - header.length;
              header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
              offset += Math.min(need, chunk.length - offset);
              if (header.length === 4) {
                pending = header.readUInt32BE(0);
                header = Buffer.alloc(0);
                if (pending === 0) onMessage(0);
              }
            }
          });
          return socket;
        }),
      );
      const publisher = netConnect({ host: "127.0.0.1", port });
      publisher.setNoDelay(true);
      await new Promise((resolve) => publisher.once("connect", resolve));
      publisher.write("P");
      let queue: Buffer[] = [];
      return {
        publish: (payload) => {
          const prefix = Buffer.alloc(4);
          prefix.writeUInt32BE(payload.length, 0);
          queue.push(prefix, Buffer.from(payload.buffer, payload.byteOffset, payload.length));
        },
        flush: async () => {
          const batch = Buffer.concat(queue);
          queue = [];
          if (!publisher.write(batch)) await new Promise((resolve) => publisher.once("drain", resolve));
        },
        close: async () => {
          publisher.destroy();
          for (const socket of subscribers) socket.destroy();
        },
      };
    },
  };
}

// ---- run ----

interface RunResult {
  /** Per system: [1 KiB, 64 KiB]. */
  throughput: Map<string, Throughput[]>;
  rtt: Map<string, Percentiles>;
  detection: { kill: number; stop: number };
  /** The 1-minute load average as the throughput and the round-trip parts started: the machine is shared. */
  load: { throughput: number; roundTrip: number };
}

interface Peers {
  dir: string;
  redisPort: number;
  natsPort: number;
  relayPort: number;
  root: string;
  leaf: string;
  hops: HopPeers;
}

async function runOnce(peers: Peers, quick: boolean, runIndex: number): Promise<RunResult> {
  const throughputLoad = loadavg()[0]!;
  const { redisPort, natsPort, relayPort, root, leaf, dir } = peers;
  const systems = [
    redisSystem(`redis://127.0.0.1:${redisPort}`),
    natsSystem(`127.0.0.1:${natsPort}`),
    treeSystem(root, leaf),
    rawSystem(relayPort),
  ];
  const sizes = [
    { size: 1024, count: quick ? 50_000 : 200_000, window: 8000 },
    { size: 64 * 1024, count: quick ? 2000 : 8000, window: 128 },
  ];
  const throughput = new Map<string, Throughput[]>();
  for (const system of systems) {
    const list: Throughput[] = [];
    for (const { size, count, window } of sizes) list.push(await measure(system, size, count, window));
    throughput.set(system.name, list);
  }

  const roundTripLoad = loadavg()[0]!;
  const rtt = await measureRoundTrips(
    roundTripSystems(
      {
        redis: `redis://127.0.0.1:${redisPort}`,
        nats: `127.0.0.1:${natsPort}`,
        treeRoot: root,
        treeLeaf: leaf,
      },
      peers.hops,
    ),
    quick ? 1000 : 5000,
  );

  // Failure detection with the default 1 s heartbeat.
  const detection: Record<string, number> = {};
  for (const signal of ["SIGKILL", "SIGSTOP"] as const) {
    const name = `victim-${signal}-${runIndex}`;
    const child = await startTreeNode(dir, name, ["--parent", root, "--listen", "127.0.0.1:0"]);
    const watcher = await BusClient.connect({ url: root, events: ["node.down", "node.up"] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const down = new Promise<void>((resolve) =>
      watcher.onMessage((m) => m.event === "node.down" && m.text().includes(`"${name}"`) && resolve()),
    );
    const t = process.hrtime.bigint();
    child.child.kill(signal);
    await down;
    detection[signal] = Number(process.hrtime.bigint() - t) / 1e6;
    await watcher.close();
    child.child.kill("SIGKILL");
  }
  return {
    throughput,
    rtt,
    detection: { kill: detection.SIGKILL!, stop: detection.SIGSTOP! },
    load: { throughput: throughputLoad, roundTrip: roundTripLoad },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** "median (a / b / c)" when there are several runs, the value alone for one. */
function cell(values: number[], format: (value: number) => string): string {
  const middle = format(median(values));
  return values.length === 1 ? middle : `${middle} (${values.map(format).join(" / ")})`;
}

function report(runs: RunResult[], missing: string[]): string {
  const out: string[] = [];
  const n = runs.length;
  const thousands = (value: number) => `${Math.round(value / 1000)}k`;
  const whole = (value: number) => value.toFixed(0);
  const ratio = (value: number) => `${value.toFixed(2)}x`;
  const names = [...runs[0]!.throughput.keys()];
  const series = (name: string, index: 0 | 1, key: keyof Throughput) =>
    runs.map((run) => run.throughput.get(name)![index]![key]);
  out.push(
    `throughput: 1 publisher -> ${SUBSCRIBERS} subscribers, loopback (messages delivered/s, MB/s)` +
      (n > 1 ? `; median of ${n} runs (each run's figure in brackets, in run order)` : ""),
  );
  const table: string[][] = [
    ["system", "1KiB msg/s", "1KiB MB/s", "64KiB msg/s", "64KiB MB/s", "vs NATS 1K", "vs raw 64K"],
  ];
  for (const name of names) {
    // Ratios are taken within each run (same conditions), then their median.
    const versusNats = runs.map(
      (run) => run.throughput.get(name)![0]!.msgs / run.throughput.get("NATS")![0]!.msgs,
    );
    const versusRaw = runs.map(
      (run) => run.throughput.get(name)![1]!.mbps / run.throughput.get("raw TCP relay")![1]!.mbps,
    );
    table.push([
      name,
      cell(series(name, 0, "msgs"), thousands),
      cell(series(name, 0, "mbps"), whole),
      cell(series(name, 1, "msgs"), thousands),
      cell(series(name, 1, "mbps"), whole),
      cell(versusNats, ratio),
      cell(versusRaw, ratio),
    ]);
  }
  out.push(...align(table));
  out.push(
    "",
    "round trip publish -> subscriber -> reply -> publisher, closed loop (µs); the systems take turns in blocks",
  );
  const rttTable: string[][] = [["system", "p50", "p99", `p50 vs ${ROW.nats} (1 server)`]];
  for (const name of runs[0]!.rtt.keys()) {
    rttTable.push([
      name,
      cell(
        runs.map((run) => run.rtt.get(name)!.p50),
        whole,
      ),
      cell(
        runs.map((run) => run.rtt.get(name)!.p99),
        whole,
      ),
      cell(
        runs.map((run) => run.rtt.get(name)!.p50 / run.rtt.get(ROW.nats)!.p50),
        ratio,
      ),
    ]);
  }
  out.push(
    ...align(rttTable),
    ...missing,
    "",
    "what one more hop adds to the round trip's p50 (µs, within each run)",
  );
  for (const [label, withHop, without] of HOP_COSTS) {
    if (!runs[0]!.rtt.has(withHop)) continue;
    out.push(
      `  ${label}: ${cell(
        runs.map((run) => run.rtt.get(withHop)!.p50 - run.rtt.get(without)!.p50),
        (value) => `${value < 0 ? "" : "+"}${whole(value)}`,
      )}`,
    );
  }
  out.push(
    `load average (1 min) as each run's throughput / round trip started: ${runs
      .map((run) => `${run.load.throughput.toFixed(1)} / ${run.load.roundTrip.toFixed(1)}`)
      .join(", ")}`,
  );
  out.push(
    "",
    "failure detection (heartbeat 1000 ms): time until node.down",
    `kill -9: ${cell(
      runs.map((run) => run.detection.kill),
      (value) => `${value.toFixed(1)} ms`,
    )}    SIGSTOP: ${cell(
      runs.map((run) => run.detection.stop / 1000),
      (value) => `${value.toFixed(2)} heartbeats`,
    )}`,
  );
  return out.join("\n");
}

function align(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? "").length)));
  return rows.map((cells) =>
    cells
      .map((text, i) => text.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
}

/** `--runs N` repeats every measurement N times against the same peers and reports medians and samples. */
export async function run(args: string[]): Promise<void> {
  const quick = args.includes("--quick");
  const runsFlag = args.indexOf("--runs");
  const runs = runsFlag >= 0 ? Number(args[runsFlag + 1]) : 1;
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs needs a positive whole number");
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-bus-"));
  await writeFile(join(dir, "secret"), "bench-secret\n");
  try {
    const redisPort = await freePort();
    start("/usr/bin/redis-server", [
      "--port",
      String(redisPort),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ]);
    const natsPort = await freePort();
    start("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]);
    const relay = start(process.execPath, ["-e", RELAY]);
    const relayPort = Number(
      await new Promise<string>((resolve) => createInterface({ input: relay.stdout! }).once("line", resolve)),
    );
    const root = await startTreeNode(dir, "bench-root", []);
    const leaf = await startTreeNode(dir, "bench-leaf", ["--parent", root.url]);
    await Promise.all([waitPort(redisPort, "redis-server"), waitPort(natsPort, "nats-server")]);
    const hops = await startHopPeers(start, natsPort, root.url);
    const peers = { dir, redisPort, natsPort, relayPort, root: root.url, leaf: leaf.url, hops };
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      if (runs > 1)
        process.stdout.write(`run ${i + 1} of ${runs} (load average ${loadavg()[0]!.toFixed(1)})…\n`);
      results.push(await runOnce(peers, quick, i));
    }
    process.stdout.write(`${report(results, hops.missing)}\n`);
  } finally {
    stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}
