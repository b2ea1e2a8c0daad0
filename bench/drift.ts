// `npm run bench -- drift [--trials=N] [--runs=N]`: how fast a tree of real `treescale node` processes
// (root + 2 children on loopback, each with its agent, sharing this machine's dockerd) notices and heals
// a `docker rm -f` of an owned container, and how long a fleet `apply` takes to converge 50 containers
// over the 3 nodes, beside the embedded (single-node) apply of the same 50.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import type { DriftReport } from "../src/model/wire.js";
import { BusClient, type Message } from "../src/bus/client/index.js";
import { runLimited } from "../src/util/run-limited.js";
import { exec, median, percentile, printTable, timed } from "./support/timing.js";

const IMAGE = "local/busybox:1";
// sh as PID 1 with a TERM trap stops at once instead of waiting out the grace period.
const COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];
const APPLY_COUNT = 50;
const TOKEN = "bench-token";
const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const docker = new Docker();

type TreeNode = { name: string; url: string; port: number; process: ChildProcess; stderr: string[] };
type Trial = { node: string; removeMs: number; driftMs: number; replacementMs: number; detectionMs?: number };

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the engine's timeNano. */
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything this benchmark started, so that one place can stop it, also on failure or Ctrl-C. */
class Harness {
  readonly processes: ChildProcess[] = [];
  readonly nodeNames = new Set<string>();
  readonly clients: BusClient[] = [];
  dir = "";
  tokens = "";
  secret = "";

  async setup(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "treescale-bench-drift-"));
    this.tokens = join(this.dir, "tokens.txt");
    this.secret = join(this.dir, "secret.txt");
    await writeFile(this.tokens, `${TOKEN}\n`);
    await writeFile(this.secret, "bench-cluster-secret\n");
  }

  async startNode(name: string, tags: string[], home: string, parent?: TreeNode): Promise<TreeNode> {
    this.nodeNames.add(name);
    const args = [
      CLI,
      "node",
      "--name",
      name,
      "--listen",
      "127.0.0.1:0",
      "--tokens",
      this.tokens,
      "--cluster-secret",
      this.secret,
      "--agent",
      "--home",
      home,
      ...tags.flatMap((tag) => ["--tag", tag]),
      ...(parent ? ["--parent", parent.url] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.processes.push(child);
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${name} did not start:\n${stderr.join("\n")}`)),
        15_000,
      );
      child.once("exit", (code) => reject(new Error(`node ${name} exited ${code}:\n${stderr.join("\n")}`)));
      createInterface({ input: child.stdout! }).once("line", (first) => {
        clearTimeout(timer);
        resolve(first);
      });
    });
    const url = (JSON.parse(line) as { listen: string }).listen;
    return { name, url, port: Number(url.split(":").pop()), process: child, stderr };
  }

  /** Starts root + 2 children; resolves once both children are linked to the root. */
  async startTree(prefix: string, tags: { root: string; child: string }): Promise<TreeNode[]> {
    const homes = join(this.dir, `${prefix}-homes`);
    await mkdir(homes, { recursive: true });
    const root = await this.startNode(`${prefix}root`, [tags.root], join(homes, "root"));
    const children = await Promise.all(
      ["c1", "c2"].map((key) => this.startNode(`${prefix}${key}`, [tags.child], join(homes, key), root)),
    );
    await waitFor(
      () => children.every((child) => child.stderr.some((line) => /linked to parent/.test(line))),
      15_000,
      "the children to link to the root",
    );
    return [root, ...children];
  }

  async stopNodes(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((client) => client.close().catch(() => undefined)));
    await Promise.all(this.processes.splice(0).map(kill));
    await removeContainersOf([...this.nodeNames]);
  }

  async teardown(): Promise<void> {
    await this.stopNodes();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  });
}

async function removeContainersOf(nodes: string[]): Promise<void> {
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

async function runningOf(nodes: string[]): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const list = await docker.listContainers({
      filters: { status: ["running"], label: [`treescale.node=${node}`] },
    });
    total += list.length;
  }
  return total;
}

async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

function serversToml(nodes: TreeNode[], tags: string[]): string {
  const [root, ...children] = nodes;
  return nodes
    .map(
      (node, i) => `[servers.${node.name}]
ip = "127.0.0.1"
service_port = ${node.port}
tags = ["${tags[i]}"]
childs = [${node === root ? children.map((c) => `"${c.name}"`).join(", ") : ""}]
`,
    )
    .join("\n");
}

function containerToml(name: string, replicas: number, placementTag?: string): string {
  return `[containers.${name}]
image = "${IMAGE}"
replicas = ${replicas}
command = ${JSON.stringify(COMMAND)}
${placementTag ? `placement = { tags = ["${placementTag}"] }\n` : ""}`;
}

function fleetApply(root: TreeNode, manifests: string): Promise<string> {
  return exec(process.execPath, [
    CLI,
    "apply",
    "--node",
    root.url,
    "--token",
    TOKEN,
    "--timeout",
    "120",
    "-f",
    manifests,
  ]);
}

type EngineStart = { name: string; node: string; atMs: number };

/** The engine's `start` events of owned containers, timestamped by the engine itself. */
async function watchStarts(onStart: (start: EngineStart) => void): Promise<() => void> {
  const stream = (await docker.getEvents({
    filters: { type: ["container"], event: ["start"], label: ["treescale.managed=true"] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = "";
  stream.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (!line) continue;
      const event = JSON.parse(line) as {
        timeNano: number;
        Actor: { Attributes: Record<string, string> };
      };
      onStart({
        name: event.Actor.Attributes.name ?? "",
        node: event.Actor.Attributes["treescale.node"] ?? "",
        atMs: event.timeNano / 1e6,
      });
    }
  });
  stream.on("error", () => undefined);
  return () => stream.destroy();
}

/** Resolves with the first item `accept` takes that arrives (or already arrived) within the timeout. */
class Waiters<T> {
  readonly #seen: T[] = [];
  readonly #waiting = new Set<(item: T) => boolean>();

  push(item: T): void {
    this.#seen.push(item);
    for (const waiter of this.#waiting) if (waiter(item)) this.#waiting.delete(waiter);
  }

  clear(): void {
    this.#seen.length = 0;
  }

  next(accept: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const seen = this.#seen.find(accept);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = (item: T) => {
        if (!accept(item)) return false;
        clearTimeout(timer);
        resolve(item);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.add(waiter);
    });
  }
}

async function driftTrials(harness: Harness, trials: number): Promise<Trial[]> {
  const tree = await harness.startTree("bdrift", { root: "core", child: "web" });
  const [root, ...children] = tree as [TreeNode, ...TreeNode[]];
  const manifests = join(harness.dir, "drift-fleet");
  await mkdir(manifests);
  await writeFile(join(manifests, "servers.toml"), serversToml(tree, ["core", "web", "web"]));
  await writeFile(join(manifests, "web.toml"), containerToml("web", children.length, "web"));
  await fleetApply(root, manifests);
  const childNames = children.map((c) => c.name);
  await waitFor(
    async () => (await runningOf(childNames)) === children.length,
    10_000,
    "one container per child",
  );

  const drifts = new Waiters<{ report: DriftReport; atMs: number }>();
  const starts = new Waiters<EngineStart>();
  const client = await BusClient.connect({ url: root.url, token: TOKEN, events: ["drift"] });
  harness.clients.push(client);
  client.onMessage((message: Message) => {
    const atMs = wallNow();
    drifts.push({ report: message.json<DriftReport>(), atMs });
  });
  const stopWatching = await watchStarts((start) => starts.push(start));

  const results: Trial[] = [];
  try {
    // Trial 0 is a warm-up (interest reaching the children, JIT, the engine's caches); not counted.
    for (let i = 0; i <= trials; i++) {
      const node = childNames[i % childNames.length]!;
      const [victim] = await docker.listContainers({
        filters: { status: ["running"], label: [`treescale.node=${node}`] },
      });
      if (!victim) throw new Error(`no running container of ${node} to remove`);
      const name = victim.Names[0]!.slice(1);
      drifts.clear();
      starts.clear();
      const removedAt = wallNow();
      const drift = drifts.next(
        ({ report }) =>
          report.node === node &&
          report.differences.some((d) => d.target === name) &&
          (report.changedAt === undefined || Date.parse(report.changedAt) >= Math.floor(removedAt)),
        i === 0 ? 10_000 : 5000,
        `drift event for ${name}`,
      );
      const started = starts.next(
        (start) => start.name === name && start.atMs > removedAt,
        10_000,
        `engine start of a replacement ${name}`,
      );
      await docker.getContainer(victim.Id).remove({ force: true });
      const removeMs = wallNow() - removedAt;
      const [seen, replaced] = await Promise.all([drift, started]);
      if (i > 0) {
        results.push({
          node,
          removeMs,
          driftMs: seen.atMs - removedAt,
          replacementMs: replaced.atMs - removedAt,
          ...(seen.report.detectionMs !== undefined ? { detectionMs: seen.report.detectionMs } : {}),
        });
      }
      // Let the agent finish its bookkeeping so trials don't overlap.
      await sleep(250);
    }
  } finally {
    stopWatching();
  }
  await harness.stopNodes();
  return results;
}

async function applyRuns(harness: Harness, runs: number): Promise<{ fleet: number[]; embedded: number[] }> {
  const fleet: number[] = [];
  const embedded: number[] = [];
  const embeddedName = "bapplylocal";
  harness.nodeNames.add(embeddedName);
  const embeddedManifest = join(harness.dir, "embedded.toml");
  await writeFile(embeddedManifest, containerToml("bench", APPLY_COUNT));

  const runFleet = async (run: number) => {
    const tree = await harness.startTree(`bapply${run}`, { root: "web", child: "web" });
    const manifests = join(harness.dir, `apply-fleet-${run}`);
    await mkdir(manifests);
    await writeFile(join(manifests, "servers.toml"), serversToml(tree, ["web", "web", "web"]));
    await writeFile(join(manifests, "bench.toml"), containerToml("bench", APPLY_COUNT, "web"));
    fleet.push((await timed(() => fleetApply(tree[0]!, manifests))).ms);
    const running = await runningOf(tree.map((node) => node.name));
    if (running !== APPLY_COUNT) throw new Error(`fleet apply left ${running} of ${APPLY_COUNT} running`);
    await harness.stopNodes();
  };
  const runEmbedded = async (run: number) => {
    const env = { ...process.env, TREESCALE_HOME: join(harness.dir, `embedded-home-${run}`) };
    const apply = () =>
      exec(process.execPath, [CLI, "apply", "--name", embeddedName, "-f", embeddedManifest], { env });
    embedded.push((await timed(apply)).ms);
    const running = await runningOf([embeddedName]);
    if (running !== APPLY_COUNT) throw new Error(`embedded apply left ${running} of ${APPLY_COUNT} running`);
    await removeContainersOf([embeddedName]);
  };

  for (let run = 0; run < runs; run++) {
    // Alternate the order so that neither always runs on a warmer engine.
    const order = run % 2 === 0 ? [runFleet, runEmbedded] : [runEmbedded, runFleet];
    process.stdout.write(
      `apply run ${run + 1}/${runs}: ${run % 2 === 0 ? "fleet, embedded" : "embedded, fleet"}\n`,
    );
    for (const step of order) await step(run);
  }
  return { fleet, embedded };
}

function printDrift(trials: Trial[]): void {
  const ms = (value: number) => value.toFixed(0);
  const row = (label: string, values: number[]) => [
    label,
    ms(median(values)),
    ms(percentile(values, 99)),
    ms(Math.min(...values)),
    ms(Math.max(...values)),
  ];
  const detection = trials.flatMap((t) => (t.detectionMs === undefined ? [] : [t.detectionMs]));
  process.stdout.write(
    `\ndrift: docker rm -f of an owned container on a child, ${trials.length} trials (ms)\n`,
  );
  printTable(
    ["from docker rm -f to", "median", "p99", "min", "max"],
    [
      row(
        "drift event at a client of the root",
        trials.map((t) => t.driftMs),
      ),
      row(
        "replacement started (engine start event)",
        trials.map((t) => t.replacementMs),
      ),
      row(
        "docker rm -f returned (the engine's own part)",
        trials.map((t) => t.removeMs),
      ),
      ...(detection.length > 0 ? [row("agent detectionMs (engine event → agent)", detection)] : []),
    ],
  );
  process.stdout.write(
    `samples, drift event:  ${trials.map((t) => ms(t.driftMs)).join(" ")}\n` +
      `samples, replacement: ${trials.map((t) => ms(t.replacementMs)).join(" ")}\n` +
      "target: both within 1000 ms.\n" +
      "context, not measured here: Argo CD compares live state on a 3-minute poll by default\n" +
      "(timeout.reconciliation = 180 s); Kubernetes marks a silent node NotReady after 40 s\n" +
      "(node-monitor-grace-period) before anything on it is rescheduled.\n",
  );
}

function printApply(results: { fleet: number[]; embedded: number[] }, runs: number): void {
  const seconds = (values: number[]) => values.map((v) => (v / 1000).toFixed(2)).join(" ");
  process.stdout.write(
    `\napply: converge ${APPLY_COUNT} containers from nothing, ${runs} run(s), median [all samples] (s)\n`,
  );
  printTable(
    ["apply", "median", "samples"],
    [
      [
        "fleet: --node root, 3 nodes (root + 2 children)",
        (median(results.fleet) / 1000).toFixed(2),
        seconds(results.fleet),
      ],
      [
        "embedded: one node, no tree",
        (median(results.embedded) / 1000).toFixed(2),
        seconds(results.embedded),
      ],
    ],
  );
  process.stdout.write(
    `fleet/embedded = ${(median(results.fleet) / median(results.embedded)).toFixed(2)} ` +
      "(each run: the CLI process from start to exit; the fleet apply waits until every node reports the generation)\n",
  );
}

export async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) =>
    Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
  const trials = option("trials", 20);
  const runs = option("runs", 3);
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const harness = new Harness();
  const interrupted = () => {
    void harness.teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    await harness.setup();
    const drift = await driftTrials(harness, trials);
    printDrift(drift);
    process.stdout.write("\n");
    const apply = await applyRuns(harness, runs);
    printApply(apply, runs);
  } finally {
    await harness.teardown();
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
}
