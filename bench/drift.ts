// `npm run bench -- drift [--trials=N] [--runs=N] [--baseline=DIR]`: how fast a tree of real
// `treescale node` processes (root + 2 children on loopback, each with its agent, sharing this machine's
// dockerd) notices and heals a `docker rm -f` of an owned container, and how long a fleet `apply` takes
// to converge 50 containers over the 3 nodes, beside the embedded (single-node) apply of the same 50.
// --baseline=DIR repeats both for the treescale built in DIR (an older commit's checkout): the drift
// trials one tree after the other, the applies interleaved run by run in rotating order.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import type { DriftReport } from "../src/model/wire.js";
import { runLimited } from "../src/util/run-limited.js";
import { type Build, buildsFrom } from "./support/builds.js";
import { type NodeProcess, startNodeProcess, stopProcess } from "./support/node-process.js";
import { exec, median, percentile, printTable, timed } from "./support/timing.js";

const IMAGE = "local/busybox:1";
// sh as PID 1 with a TERM trap stops at once instead of waiting out the grace period.
const COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];
const APPLY_COUNT = 50;
const TOKEN = "bench-token";
const docker = new Docker();

type TreeNode = NodeProcess;
/**
 * A drift event as `treescale events -o json` prints its data. Builds before the reconcile core
 * (a --baseline) name the container of a difference `container`, later ones `target`.
 */
type SeenDriftReport = Omit<DriftReport, "differences"> & {
  differences: { target?: string; container?: string }[];
};
type Trial = { node: string; removeMs: number; driftMs: number; replacementMs: number; detectionMs?: number };

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the engine's timeNano. */
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything this benchmark started, so that one place can stop it, also on failure or Ctrl-C. */
class Harness {
  readonly processes: ChildProcess[] = [];
  readonly nodeNames = new Set<string>();
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

  async startNode(
    cli: string,
    name: string,
    tags: string[],
    home: string,
    parent?: TreeNode,
  ): Promise<TreeNode> {
    this.nodeNames.add(name);
    const node = await startNodeProcess(cli, name, [
      "--tokens",
      this.tokens,
      "--cluster-secret",
      this.secret,
      "--agent",
      "--home",
      home,
      ...tags.flatMap((tag) => ["--tag", tag]),
      ...(parent ? ["--parent", parent.url] : []),
    ]);
    this.processes.push(node.process);
    return node;
  }

  /** Starts root + 2 children; resolves once both children are linked to the root. */
  async startTree(cli: string, prefix: string, tags: { root: string; child: string }): Promise<TreeNode[]> {
    const homes = join(this.dir, `${prefix}-homes`);
    await mkdir(homes, { recursive: true });
    const root = await this.startNode(cli, `${prefix}root`, [tags.root], join(homes, "root"));
    const children = await Promise.all(
      ["c1", "c2"].map((key) => this.startNode(cli, `${prefix}${key}`, [tags.child], join(homes, key), root)),
    );
    await waitFor(
      () => children.every((child) => child.stderr.some((line) => /linked to parent/.test(line))),
      15_000,
      "the children to link to the root",
    );
    return [root, ...children];
  }

  async stopNodes(): Promise<void> {
    await Promise.all(this.processes.splice(0).map(stopProcess));
    await removeContainersOf([...this.nodeNames]);
  }

  async teardown(): Promise<void> {
    await this.stopNodes();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
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

function fleetApply(cli: string, root: TreeNode, manifests: string): Promise<string> {
  return exec(process.execPath, [
    cli,
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

/**
 * Drift events as a client of the root receives them, through the build's own `treescale events`
 * (so a --baseline speaks its own protocol); resolves once that client is connected.
 */
async function subscribeDrift(
  harness: Harness,
  cli: string,
  root: TreeNode,
  onReport: (report: SeenDriftReport, atMs: number) => void,
): Promise<void> {
  const args = ["events", "--node", root.url, "--token", TOKEN, "--event", "drift", "-o", "json"];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  harness.processes.push(child);
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const atMs = wallNow();
    onReport((JSON.parse(line) as { data: SeenDriftReport }).data, atMs);
  });
  const stderr: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`treescale events did not connect:\n${stderr.join("\n")}`)),
      15_000,
    );
    child.once("exit", (code) => reject(new Error(`treescale events exited ${code}:\n${stderr.join("\n")}`)));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line);
      if (!line.startsWith("connected to")) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

async function driftTrials(harness: Harness, trials: number, build: Build, prefix: string): Promise<Trial[]> {
  const tree = await harness.startTree(build.cli, prefix, { root: "core", child: "web" });
  const [root, ...children] = tree as [TreeNode, ...TreeNode[]];
  const manifests = join(harness.dir, `${prefix}-fleet`);
  await mkdir(manifests);
  await writeFile(join(manifests, "servers.toml"), serversToml(tree, ["core", "web", "web"]));
  await writeFile(join(manifests, "web.toml"), containerToml("web", children.length, "web"));
  await fleetApply(build.cli, root, manifests);
  const childNames = children.map((c) => c.name);
  await waitFor(
    async () => (await runningOf(childNames)) === children.length,
    10_000,
    "one container per child",
  );

  const drifts = new Waiters<{ report: SeenDriftReport; atMs: number }>();
  const starts = new Waiters<EngineStart>();
  await subscribeDrift(harness, build.cli, root, (report, atMs) => drifts.push({ report, atMs }));
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
          report.differences.some((d) => (d.target ?? d.container) === name) &&
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

type ApplyTimes = { fleet: number[]; embedded: number[] };

async function applyRuns(harness: Harness, runs: number, builds: Build[]): Promise<Map<string, ApplyTimes>> {
  const results = new Map<string, ApplyTimes>(
    builds.map((build) => [build.label, { fleet: [], embedded: [] }]),
  );
  const embeddedName = "bapplylocal";
  harness.nodeNames.add(embeddedName);
  const embeddedManifest = join(harness.dir, "embedded.toml");
  await writeFile(embeddedManifest, containerToml("bench", APPLY_COUNT));

  type Step = { name: string; run(run: number): Promise<void> };
  const steps = builds.flatMap((build, index): Step[] => {
    const times = results.get(build.label)!;
    // Each build keeps its own node names and homes: a home one build wrote is no state for another.
    const prefix = `b${index === 0 ? "" : build.label}apply`;
    const label = builds.length > 1 ? `${build.label} ` : "";
    return [
      {
        name: `${label}fleet`,
        async run(run) {
          const tree = await harness.startTree(build.cli, `${prefix}${run}`, { root: "web", child: "web" });
          const manifests = join(harness.dir, `${prefix}-fleet-${run}`);
          await mkdir(manifests);
          await writeFile(join(manifests, "servers.toml"), serversToml(tree, ["web", "web", "web"]));
          await writeFile(join(manifests, "bench.toml"), containerToml("bench", APPLY_COUNT, "web"));
          times.fleet.push((await timed(() => fleetApply(build.cli, tree[0]!, manifests))).ms);
          const running = await runningOf(tree.map((node) => node.name));
          if (running !== APPLY_COUNT)
            throw new Error(`fleet apply left ${running} of ${APPLY_COUNT} running`);
          await harness.stopNodes();
        },
      },
      {
        name: `${label}embedded`,
        async run(run) {
          const env = { ...process.env, TREESCALE_HOME: join(harness.dir, `${prefix}-embedded-home-${run}`) };
          const apply = () =>
            exec(process.execPath, [build.cli, "apply", "--name", embeddedName, "-f", embeddedManifest], {
              env,
            });
          times.embedded.push((await timed(apply)).ms);
          const running = await runningOf([embeddedName]);
          if (running !== APPLY_COUNT)
            throw new Error(`embedded apply left ${running} of ${APPLY_COUNT} running`);
          await removeContainersOf([embeddedName]);
        },
      },
    ];
  });

  for (let run = 0; run < runs; run++) {
    // Rotate the order so that no step always runs on a warmer engine.
    const shift = run % steps.length;
    const order = [...steps.slice(shift), ...steps.slice(0, shift)];
    process.stdout.write(`apply run ${run + 1}/${runs}: ${order.map((step) => step.name).join(", ")}\n`);
    for (const step of order) await step.run(run);
  }
  return results;
}

function printDrift(trials: Trial[], label: string): void {
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
    `\ndrift${label}: docker rm -f of an owned container on a child, ${trials.length} trials (ms)\n`,
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

function printApply(results: Map<string, ApplyTimes>, runs: number): void {
  const seconds = (values: number[]) => values.map((v) => (v / 1000).toFixed(2)).join(" ");
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  const label = (build: string) => (results.size > 1 ? `${build} ` : "");
  process.stdout.write(
    `\napply: converge ${APPLY_COUNT} containers from nothing, ${runs} run(s), median [all samples] (s)\n`,
  );
  printTable(
    ["apply", "median", "samples"],
    [...results].flatMap(([build, times]) => [
      [
        `${label(build)}fleet: --node root, 3 nodes (root + 2 children)`,
        (median(times.fleet) / 1000).toFixed(2),
        seconds(times.fleet),
      ],
      [
        `${label(build)}embedded: one node, no tree`,
        (median(times.embedded) / 1000).toFixed(2),
        seconds(times.embedded),
      ],
    ]),
  );
  for (const [build, times] of results) {
    process.stdout.write(`${label(build)}fleet/embedded = ${ratio(times.fleet, times.embedded)}\n`);
  }
  const current = results.get("treescale");
  const baseline = results.get("baseline");
  if (current && baseline) {
    process.stdout.write(
      `treescale/baseline: fleet ${ratio(current.fleet, baseline.fleet)}, ` +
        `embedded ${ratio(current.embedded, baseline.embedded)} (below 1: this build is faster)\n`,
    );
  }
  process.stdout.write(
    "(each run: the CLI process from start to exit; the fleet apply waits until every node reports the generation)\n",
  );
}

export async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) =>
    Number(args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
  const trials = option("trials", 20);
  const runs = option("runs", 3);
  const builds = await buildsFrom(args);
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const harness = new Harness();
  const interrupted = () => {
    void harness.teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    await harness.setup();
    for (const [index, build] of builds.entries()) {
      // Each build's tree has its own names and homes, so nothing one left behind is read by the other.
      const drift = await driftTrials(harness, trials, build, `bdrift${index === 0 ? "" : build.label}`);
      printDrift(drift, builds.length > 1 ? ` (${build.label})` : "");
    }
    process.stdout.write("\n");
    printApply(await applyRuns(harness, runs, builds), runs);
  } finally {
    await harness.teardown();
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
}
