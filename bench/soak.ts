// `npm run soak -- --minutes N` (issue #10): a tree of 3 real `treescale node` processes (root + 2
// children on loopback, agents on this machine's dockerd, tokens and a cluster secret) under a steady
// mix for N minutes: an apply every 10 s (2 ↔ 6 replicas, a new env each time, --prune of a second
// resource that comes and goes), a `docker rm -f` of an owned container every 5 s, and 200 events/s
// from a client of one child to a client of the other. Prints what went wrong and how each node's
// memory moved; the raw samples go to a JSON file under the OS temp dir.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { BusClient } from "../src/bus/client/index.js";
import type { DriftReport } from "../src/model/wire.js";
import { runLimited } from "../src/util/run-limited.js";
import { buildsFrom } from "./support/builds.js";
import { type EventCounts, EventLoad } from "./support/event-load.js";
import { type NodeProcess, startNodeProcess, stopProcess } from "./support/node-process.js";
import {
  freeLoopbackPort,
  leastSquaresSlope,
  residentBytesOf,
  scrapeMetrics,
} from "./support/process-samples.js";
import { exec, median, percentile, printTable } from "./support/timing.js";

const IMAGE = "local/busybox:1";
// sh as PID 1 with a TERM trap stops at once instead of waiting out the grace period.
const COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];
const TOKEN = "soak-token";
const STACK = "soak";
const REPLICAS = [2, 6] as const;
/** Replicas 1..2 are wanted at every step, so each one removed must come back. */
const ALWAYS_WANTED = Math.min(...REPLICAS);
const APPLY_EVERY_MS = 10_000;
const DRIFT_EVERY_MS = 5000;
const SAMPLE_EVERY_MS = 30_000;
const EVENTS_PER_SECOND = 200;
const APPLY_TIMEOUT_S = 60;
const MB = 1024 * 1024;
const docker = new Docker();

type SoakNode = NodeProcess & { http: string; role: string };
type NodeSample = {
  rssBytes?: number;
  heapUsedBytes?: number;
  pendingOutputBytes?: number;
  droppedFrames?: number;
  slowConsumers?: number;
};
type Sample = { atMs: number; nodes: Record<string, NodeSample>; events: EventCounts; applies: number };
type ApplyRun = {
  round: number;
  replicas: number;
  extra: boolean;
  /** When it started, in ms after the soak's start (the samples' atMs, the victims' removedAt - startedAt). */
  startMs: number;
  ms: number;
  exitCode: number;
  failedLines: string[];
  output?: string;
};
type Victim = { name: string; node: string; removedAt: number; driftMs?: number; healedMs?: number };

/** Everything the soak started, so that one place stops it: at the end, on failure, on Ctrl-C. */
class Soak {
  readonly prefix = `soak${process.pid}`;
  readonly nodes: SoakNode[] = [];
  readonly children = new Set<ChildProcess>();
  /** Every node name started, also of a node that failed to start: its containers are removed too. */
  readonly #names = new Set<string>();
  readonly closers: (() => Promise<void> | void)[] = [];
  dir = "";
  /** Where each node's log is kept (what a loss or a failed apply is traced back with). */
  logDir = "";

  async setup(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "treescale-soak-"));
    await writeFile(join(this.dir, "tokens.txt"), `${TOKEN}\n`);
    await writeFile(join(this.dir, "secret.txt"), "soak-cluster-secret\n");
    await mkdir(join(this.dir, "fleet"));
  }

  /**
   * Root `-a`, children `-b` and `-c`: replicas go round-robin over the names sorted, so the always
   * wanted replicas 1 and 2 run on the root and on child b.
   */
  async startTree(cli: string): Promise<void> {
    const root = await this.#startNode(cli, "a", "root");
    const children = await Promise.all(["b", "c"].map((key) => this.#startNode(cli, key, "child", root)));
    this.nodes.push(root, ...children);
    const deadline = Date.now() + 15_000;
    while (!this.nodes.slice(1).every((n) => n.stderr.some((line) => /linked to parent/.test(line)))) {
      if (Date.now() > deadline) throw new Error("the children did not link to the root within 15 s");
      await sleep(25);
    }
  }

  async #startNode(cli: string, key: string, role: string, parent?: SoakNode): Promise<SoakNode> {
    const http = `127.0.0.1:${await freeLoopbackPort()}`;
    const name = `${this.prefix}-${key}`;
    this.#names.add(name);
    const node = await startNodeProcess(cli, name, [
      ...["--tokens", join(this.dir, "tokens.txt"), "--cluster-secret", join(this.dir, "secret.txt")],
      ...["--agent", "--home", join(this.dir, `home-${key}`), "--http", http, "--tag", "soak"],
      ...(parent ? ["--parent", parent.url] : []),
    ]);
    this.children.add(node.process);
    if (this.logDir) {
      const log = createWriteStream(join(this.logDir, `${name}.log`));
      log.write(node.stderr.map((line) => `${line}\n`).join(""));
      createInterface({ input: node.process.stderr! }).on("line", (line) => log.write(`${line}\n`));
      this.closers.push(() => new Promise<void>((resolve) => log.end(resolve)));
    }
    return { ...node, http, role };
  }

  get nodeNames(): string[] {
    return this.nodes.map((node) => node.name);
  }

  async teardown(): Promise<void> {
    for (const close of this.closers.splice(0).reverse())
      await Promise.resolve(close()).catch(() => undefined);
    await Promise.all([...this.children].map(stopProcess));
    this.children.clear();
    await removeContainersOf([...this.#names]);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function removeContainersOf(nodes: string[]): Promise<void> {
  if (nodes.length === 0) return;
  // The engine ANDs label filters, so list every owned container and pick the nodes' here.
  const list = await docker.listContainers({ all: true, filters: { label: ["treescale.managed=true"] } });
  const owned = list.filter((c) => nodes.includes(c.Labels["treescale.node"] ?? ""));
  await runLimited(owned, 16, (c) =>
    docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined),
  );
}

/** Running containers of the soak's nodes, as `resource` → names. */
async function runningByResource(nodes: string[]): Promise<Map<string, string[]>> {
  const list = await docker.listContainers({
    filters: { status: ["running"], label: [`treescale.stack=${STACK}`] },
  });
  const byResource = new Map<string, string[]>();
  for (const c of list) {
    if (!nodes.includes(c.Labels["treescale.node"] ?? "")) continue;
    const resource = c.Labels["treescale.resource"] ?? "";
    byResource.set(resource, [...(byResource.get(resource) ?? []), c.Names[0]?.slice(1) ?? c.Id]);
  }
  return byResource;
}

function serversToml(nodes: SoakNode[]): string {
  const [root, ...children] = nodes;
  return nodes
    .map(
      (node) => `[servers.${node.name}]
ip = "127.0.0.1"
service_port = ${node.port}
tags = ["soak"]
childs = [${node === root ? children.map((c) => `"${c.name}"`).join(", ") : ""}]
`,
    )
    .join("\n");
}

function containerToml(name: string, replicas: number, round: number): string {
  return `[containers.${name}]
image = "${IMAGE}"
replicas = ${replicas}
command = ${JSON.stringify(COMMAND)}
env = { SOAK_ROUND = "${round}" }
`;
}

/** Round k: `web` at 2 or 6 replicas with a new env; `extra` on odd rounds only, pruned on even ones. */
async function writeRound(dir: string, round: number): Promise<{ replicas: number; extra: boolean }> {
  const replicas = REPLICAS[round % 2]!;
  const extra = round % 2 === 1;
  await writeFile(join(dir, "web.toml"), containerToml("web", replicas, round));
  if (extra) await writeFile(join(dir, "extra.toml"), containerToml("extra", 3, round));
  else await rm(join(dir, "extra.toml"), { force: true });
  return { replicas, extra };
}

/** One `treescale apply --prune` through the root; never rejects: the exit code and FAILED lines say how it went. */
function runApply(
  soak: Soak,
  cli: string,
  round: number,
  plan: { replicas: number; extra: boolean },
  startedAt: number,
): Promise<ApplyRun> {
  const args = [cli, "apply", "--node", soak.nodes[0]!.url, "--token", TOKEN, "--stack", STACK, "--prune"];
  args.push("--timeout", String(APPLY_TIMEOUT_S), "-f", join(soak.dir, "fleet"));
  const start = performance.now();
  const startMs = Date.now() - startedAt;
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  soak.children.add(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  return new Promise((resolve) => {
    child.on("close", (code) => {
      soak.children.delete(child);
      resolve({
        round,
        ...plan,
        startMs,
        ms: performance.now() - start,
        exitCode: code ?? -1,
        failedLines: output.split("\n").filter((line) => line.includes("FAILED")),
        // Kept whole only when something went wrong: it is what a bug report needs.
        ...(code !== 0 || output.includes("FAILED") ? { output } : {}),
      });
    });
  });
}

/** Runs `task` every `periodMs` until the signal aborts; a late task delays the next, never overlaps it. */
async function every(periodMs: number, signal: AbortSignal, task: () => Promise<void>): Promise<void> {
  const start = performance.now();
  for (let tick = 1; !signal.aborted; tick++) {
    await task().catch((error: unknown) => process.stderr.write(`soak: ${String(error)}\n`));
    const wait = start + tick * periodMs - performance.now();
    await sleep(Math.max(0, wait), undefined, { signal }).catch(() => undefined);
  }
}

/** Starts of owned containers as the engine reports them (its own clock), until the returned stop. */
async function watchStarts(onStart: (name: string, atMs: number) => void): Promise<() => void> {
  const stream = (await docker.getEvents({
    filters: { type: ["container"], event: ["start"], label: [`treescale.stack=${STACK}`] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = "";
  stream.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      const event = JSON.parse(line) as { timeNano: number; Actor: { Attributes: Record<string, string> } };
      onStart(event.Actor.Attributes.name ?? "", event.timeNano / 1e6);
    }
  });
  stream.on("error", () => undefined);
  return () => stream.destroy();
}

async function sampleNodes(soak: Soak): Promise<Record<string, NodeSample>> {
  const entries = await Promise.all(
    soak.nodes.map(async (node): Promise<[string, NodeSample]> => {
      const rss = await residentBytesOf(node.process.pid ?? -1);
      const metrics = await scrapeMetrics(node.http);
      const sample: NodeSample = {};
      if (rss !== undefined) sample.rssBytes = rss;
      const heap = metrics?.get("nodejs_heap_used_bytes") ?? metrics?.get("nodejs_heap_size_used_bytes");
      if (heap !== undefined) sample.heapUsedBytes = heap;
      const pending = metrics?.get("treescale_bus_pending_output_bytes");
      if (pending !== undefined) sample.pendingOutputBytes = pending;
      const dropped = metrics?.get("treescale_bus_dropped_total");
      if (dropped !== undefined) sample.droppedFrames = dropped;
      const slow = metrics?.get("treescale_bus_slow_consumers_total");
      if (slow !== undefined) sample.slowConsumers = slow;
      return [node.name, sample];
    }),
  );
  return Object.fromEntries(entries);
}

function parseMinutes(args: string[]): number {
  const at = args.findIndex((a) => a === "--minutes" || a.startsWith("--minutes="));
  const text = at < 0 ? "10" : (args[at]!.split("=")[1] ?? args[at + 1]);
  const minutes = Number(text);
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number of minutes, got "${text}"`);
  return minutes;
}

export async function run(args: string[]): Promise<void> {
  const minutes = parseMinutes(args);
  const [build] = await buildsFrom([]);
  const cli = build!.cli;
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const samplesPath = join(tmpdir(), `treescale-soak-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const soak = new Soak();
  soak.logDir = samplesPath.replace(/\.json$/, "-logs");
  await mkdir(soak.logDir, { recursive: true });
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nsoak: ${signal}: cleaning up\n`);
    void soak.teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    await soak.setup();
    await soak.startTree(cli);
    const names = soak.nodeNames;
    const fleet = join(soak.dir, "fleet");
    await writeFile(join(fleet, "servers.toml"), serversToml(soak.nodes));
    process.stdout.write(
      `soak: ${minutes} min on ${names.join(", ")} (root ${names[0]}); samples: ${samplesPath}; node logs: ${soak.logDir}\n`,
    );

    const startedAt = Date.now();
    const first = await runApply(soak, cli, 0, await writeRound(fleet, 0), startedAt);
    if (first.exitCode !== 0)
      throw new Error(`the first apply failed (exit ${first.exitCode}):\n${first.output ?? ""}`);

    const victims: Victim[] = [];
    const pending = new Map<string, Victim>();
    let driftEvents = 0;
    const drift = await BusClient.connect({ url: soak.nodes[0]!.url, token: TOKEN, events: ["drift"] });
    soak.closers.push(() => drift.close());
    drift.onMessage((message) => {
      const report = JSON.parse(message.text()) as DriftReport;
      if (!names.includes(report.node)) return;
      driftEvents++;
      for (const difference of report.differences) {
        const victim = pending.get(difference.target);
        if (victim && victim.driftMs === undefined) victim.driftMs = Date.now() - victim.removedAt;
      }
    });
    soak.closers.push(
      await watchStarts((name, atMs) => {
        const victim = pending.get(name);
        if (!victim || atMs < victim.removedAt) return;
        victim.healedMs = atMs - victim.removedAt;
        pending.delete(name);
      }),
    );
    const load = await EventLoad.open({
      publishUrl: soak.nodes[1]!.url,
      subscribeUrl: soak.nodes[2]!.url,
      token: TOKEN,
      perSecond: EVENTS_PER_SECOND,
    });
    soak.closers.push(() => load.close());

    const applies: ApplyRun[] = [first];
    const samples: Sample[] = [];
    let removeFailures = 0;
    let noVictim = 0;
    const takeSample = async () => {
      samples.push({
        atMs: Date.now() - startedAt,
        nodes: await sampleNodes(soak),
        events: load.counts,
        applies: applies.length,
      });
      await writeFile(
        samplesPath,
        `${JSON.stringify({ minutes, startedAt, nodes: names, samples, applies, victims }, null, 1)}\n`,
      );
    };

    const stop = new AbortController();
    load.start();
    await takeSample();
    let round = 1;
    let victimTurn = 0;
    let sampledOnce = false;
    const loops = [
      every(APPLY_EVERY_MS, stop.signal, async () => {
        const plan = await writeRound(fleet, round);
        const applied = await runApply(soak, cli, round++, plan, startedAt);
        applies.push(applied);
        const failed = applied.failedLines.length > 0 ? ` (${applied.failedLines.length} FAILED lines)` : "";
        process.stdout.write(
          `apply ${applied.round}: ${plan.replicas} web${plan.extra ? " + extra" : ""}, exit ${applied.exitCode}, ` +
            `${(applied.ms / 1000).toFixed(1)} s${failed}\n`,
        );
      }),
      every(DRIFT_EVERY_MS, stop.signal, async () => {
        const list = await docker.listContainers({
          filters: { status: ["running"], label: [`treescale.stack=${STACK}`, "treescale.resource=web"] },
        });
        const candidates = list
          .filter((c) => names.includes(c.Labels["treescale.node"] ?? ""))
          .filter((c) => Number(c.Labels["treescale.replica"]) <= ALWAYS_WANTED)
          .sort((a, b) => (a.Names[0] ?? "").localeCompare(b.Names[0] ?? ""));
        const chosen = candidates[victimTurn++ % Math.max(1, candidates.length)];
        if (!chosen) {
          noVictim++;
          return;
        }
        const victim = {
          name: chosen.Names[0]?.slice(1) ?? chosen.Id,
          node: chosen.Labels["treescale.node"] ?? "",
          removedAt: Date.now(),
        };
        pending.set(victim.name, victim);
        victims.push(victim);
        await docker
          .getContainer(chosen.Id)
          .remove({ force: true })
          .catch(() => {
            removeFailures++;
            pending.delete(victim.name);
            victims.pop();
          });
      }),
      every(SAMPLE_EVERY_MS, stop.signal, async () => {
        // The first tick is the sample taken before the loops started.
        if (sampledOnce) await takeSample();
        sampledOnce = true;
      }),
    ];
    await sleep(minutes * 60_000);
    stop.abort();
    await Promise.all(loops);
    await load.drain(15_000);

    const last = applies[applies.length - 1]!;
    const expected = new Map([["web", last.replicas], ...(last.extra ? [["extra", 3] as const] : [])]);
    const convergedBy = Date.now() + 60_000;
    let converged = false;
    while (!converged && Date.now() < convergedBy) {
      const running = await runningByResource(names);
      converged =
        pending.size === 0 &&
        [...running.keys()].every((resource) => expected.has(resource)) &&
        [...expected].every(([resource, count]) => running.get(resource)?.length === count);
      if (!converged) await sleep(250);
    }
    await takeSample();
    printReport({
      minutes: (Date.now() - startedAt) / 60_000,
      startedAt,
      soak,
      applies,
      victims,
      driftEvents,
      removeFailures,
      noVictim,
      events: load.counts,
      samples,
      converged,
      samplesPath,
    });
  } finally {
    await soak.teardown();
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
}

function printReport(report: {
  minutes: number;
  startedAt: number;
  soak: Soak;
  applies: ApplyRun[];
  victims: Victim[];
  driftEvents: number;
  removeFailures: number;
  noVictim: number;
  events: EventCounts;
  samples: Sample[];
  converged: boolean;
  samplesPath: string;
}): void {
  const { applies, victims, events, samples } = report;
  const ok = applies.filter((a) => a.exitCode === 0);
  const okWithFailed = ok.filter((a) => a.failedLines.length > 0);
  const applySeconds = applies.map((a) => a.ms / 1000);
  const healed = victims.filter((v) => v.healedMs !== undefined);
  const heals = healed.map((v) => v.healedMs!);
  const seen = victims.filter((v) => v.driftMs !== undefined);
  // Every apply recreates web (a new env each time): a replica removed while one runs may be the very
  // container the apply is replacing, which is no drift from what the agent is converging to.
  const duringApply = victims.filter((v) =>
    applies.some((a) => {
      const at = v.removedAt - report.startedAt;
      return at >= a.startMs && at <= a.startMs + a.ms;
    }),
  );
  const seenDuringApply = duringApply.filter((v) => v.driftMs !== undefined);
  const lost = events.sent - events.received;
  const ms = (values: number[]) =>
    values.length === 0
      ? "-"
      : `median ${median(values).toFixed(0)}, p99 ${percentile(values, 99).toFixed(0)}, max ${Math.max(...values).toFixed(0)} ms`;
  process.stdout.write("\nsoak: results\n");
  printTable(
    ["what", "figure"],
    [
      ["duration", `${report.minutes.toFixed(1)} min`],
      [
        "applies (every 10 s, --prune)",
        `${applies.length}: ${ok.length} ok, ${applies.length - ok.length} failed; ${okWithFailed.length} ok with FAILED lines`,
      ],
      [
        "apply time",
        `median ${median(applySeconds).toFixed(1)} s, max ${Math.max(...applySeconds).toFixed(1)} s`,
      ],
      [
        "faults injected (docker rm -f)",
        `${victims.length} (+${report.removeFailures} rm failed, ${report.noVictim} ticks with no victim)`,
      ],
      [
        "drift events at the root",
        `${report.driftEvents} (${seen.length} of the removals seen; ` +
          `${duringApply.length} removals fell during an apply, ${seenDuringApply.length} of them seen)`,
      ],
      ["drift event after rm", ms(seen.map((v) => v.driftMs!))],
      ["removals healed (replacement started)", `${healed.length} of ${victims.length}`],
      ["replacement started after rm", ms(heals)],
      ["converged at the end", report.converged ? "yes" : "NO (within 60 s)"],
      [
        `events ${report.soak.nodes[1]?.name} → ${report.soak.nodes[2]?.name}`,
        `${events.sent} sent, ${events.received} delivered, ${lost} lost, ${events.duplicates} duplicates, ${events.reordered} reordered`,
      ],
    ],
  );
  const troubled = applies.filter((a) => a.exitCode !== 0 || a.failedLines.length > 0);
  if (troubled.length > 0) process.stdout.write("\napplies that failed or printed FAILED (first 10):\n");
  for (const apply of troubled.slice(0, 10)) {
    process.stdout.write(
      `  apply ${apply.round} at ${(apply.startMs / 1000).toFixed(1)} s, exit ${apply.exitCode}:\n` +
        apply.failedLines.map((line) => `    ${line.trim()}\n`).join(""),
    );
  }
  process.stdout.write(
    `\nmemory per node, ${samples.length} samples every ${SAMPLE_EVERY_MS / 1000} s (slope: least squares)\n`,
  );
  const hasHeap = samples.some((s) => Object.values(s.nodes).some((n) => n.heapUsedBytes !== undefined));
  const series = (node: string, pick: (sample: NodeSample) => number | undefined) =>
    samples.flatMap((s) => {
      const value = s.nodes[node] ? pick(s.nodes[node]) : undefined;
      return value === undefined ? [] : [{ x: s.atMs / 3_600_000, y: value / MB }];
    });
  const columns = (points: { x: number; y: number }[]) => [
    points[0]?.y.toFixed(1) ?? "-",
    points[points.length - 1]?.y.toFixed(1) ?? "-",
    leastSquaresSlope(points).toFixed(1),
  ];
  printTable(
    [
      "node",
      "RSS start MB",
      "RSS end MB",
      "RSS MB/hour",
      ...(hasHeap ? ["heap start MB", "heap end MB", "heap MB/hour"] : []),
      "dropped frames",
    ],
    report.soak.nodes.map((node) => [
      `${node.name} (${node.role})`,
      ...columns(series(node.name, (n) => n.rssBytes)),
      ...(hasHeap ? columns(series(node.name, (n) => n.heapUsedBytes)) : []),
      String(samples[samples.length - 1]?.nodes[node.name]?.droppedFrames ?? "-"),
    ]),
  );
  if (!hasHeap) {
    process.stdout.write("heap: not reported (the nodes' /metrics has no nodejs_heap_used_bytes gauge)\n");
  }
  process.stdout.write(`raw samples: ${report.samplesPath}\n`);
}

await run(process.argv.slice(2));
