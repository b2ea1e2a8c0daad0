// `npm run bench -- apply [--runs=N] [--baseline=DIR]`: converge 50 containers from nothing with
// TreeScale, with docker-compose from an equivalent compose file, and with plain Engine API calls (the
// floor: what the engine itself costs, at its best concurrency); then a no-op re-apply of each tool.
// TreeScale runs twice: embedded (the CLI alone) and through a running `treescale node`, whose no-op
// re-apply is what a deploy pipeline pays when nothing changed. --baseline=DIR adds the same two rows
// for the treescale built in DIR (an older commit's checkout), so a change is judged against its
// parent in one run, on one machine state. Runs are noisy, so each is repeated, the tool order
// rotates between runs so warm-up favours none, and medians are printed beside every sample.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { runLimited } from "../src/util/run-limited.js";
import { type Build, buildsFrom } from "./support/builds.js";
import { startNodeProcess, stopProcess } from "./support/node-process.js";
import { exec, median, printTable, timed } from "./support/timing.js";

const COUNT = 50;
const IMAGE = "local/busybox:1";
const COMMAND = ["sleep", "3600"];
const FLOOR_CONCURRENCY = [8, 16, 50] as const;
/** No-op re-applies timed per run through a node: each is cheap, and one sample per run is too few. */
const NOOP_THROUGH_NODE = 3;
const EMBEDDED_NODE = "bench";
const SERVED_NODE = "benchnode";
const TOKEN = "bench-token";
const VIA_NODE = "via node";
const docker = new Docker();

type Samples = { up: number[]; noop: number[] };
type Tool = { name: string; run(samples: Samples): Promise<void> };

export async function run(args: string[]): Promise<void> {
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice("--runs=".length) ?? 3);
  const builds = await buildsFrom(args);
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-"));
  const manifest = join(dir, "bench.toml");
  const composeFile = join(dir, "docker-compose.yml");
  const tokens = join(dir, "tokens.txt");
  await writeFile(
    manifest,
    `[containers.bench]\nimage = "${IMAGE}"\nreplicas = ${COUNT}\ncommand = ${JSON.stringify(COMMAND)}\n`,
  );
  await writeFile(
    composeFile,
    `version: "2.4"\nservices:\n  bench:\n    image: ${IMAGE}\n    command: ${JSON.stringify(COMMAND)}\n    scale: ${COUNT}\n    network_mode: bridge\n`,
  );
  await writeFile(tokens, `${TOKEN}\n`);
  const compose = (...rest: string[]) =>
    exec("docker-compose", ["-p", "tsbench", "-f", composeFile, ...rest]);

  const floors = new Map<number, Samples>(FLOOR_CONCURRENCY.map((c) => [c, { up: [], noop: [] }]));
  const tools: Tool[] = [
    ...builds.map((build) => embedded(build, join(dir, `${build.label}-home`), manifest)),
    ...builds.map((build) => throughNode(build, join(dir, `${build.label}-node-home`), manifest, tokens)),
    {
      name: "docker-compose",
      async run(samples) {
        samples.up.push((await timed(() => compose("up", "-d"))).ms);
        samples.noop.push((await timed(() => compose("up", "-d"))).ms);
        await expectRunning("docker-compose");
        await compose("down", "-t", "0");
      },
    },
    {
      name: "engine floor",
      async run() {
        for (const [concurrency, samples] of floors) {
          samples.up.push((await timed(() => floor(concurrency))).ms);
          await expectRunning(`engine floor at ${concurrency}`);
          await cleanup();
        }
      },
    },
  ];
  const results = new Map<string, Samples>(tools.map((tool) => [tool.name, { up: [], noop: [] }]));

  try {
    await cleanup();
    for (let i = 0; i < runs; i++) {
      const order = [...tools.slice(i % tools.length), ...tools.slice(0, i % tools.length)];
      process.stdout.write(`run ${i + 1}/${runs}: ${order.map((tool) => tool.name).join(", ")}\n`);
      for (const tool of order) await tool.run(results.get(tool.name) as Samples);
    }
  } finally {
    await cleanup();
    await compose("down", "-t", "0").catch(() => "");
    await rm(dir, { recursive: true, force: true });
  }

  // The floor is the engine at its best: the concurrency level with the lowest median.
  const [floorConcurrency, floorSamples] = [...floors].reduce((best, entry) =>
    median(entry[1].up) < median(best[1].up) ? entry : best,
  );
  const samplesOf = (name: string) => results.get(name) as Samples;
  const seconds = (values: number[]) => values.map((ms) => (ms / 1000).toFixed(2)).join(" ");
  const millis = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(" ");
  process.stdout.write(
    `\nconverge ${COUNT} containers from nothing, ${runs} run(s), median [all samples]` +
      ` (via node: ${NOOP_THROUGH_NODE} no-op re-applies a run):\n`,
  );
  printTable(
    ["tool", "up (s)", "up samples (s)", "no-op (ms)", "no-op samples (ms)"],
    [
      ...tools
        .filter((tool) => tool.name !== "engine floor")
        .map(({ name }) => {
          const samples = samplesOf(name);
          return [
            name,
            (median(samples.up) / 1000).toFixed(2),
            seconds(samples.up),
            median(samples.noop).toFixed(0),
            millis(samples.noop),
          ];
        }),
      ...[...floors].map(([concurrency, samples]) => [
        `engine floor @${concurrency}${concurrency === floorConcurrency ? " *" : ""}`,
        (median(samples.up) / 1000).toFixed(2),
        seconds(samples.up),
        "-",
        "",
      ]),
    ],
  );
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  const ts = samplesOf("treescale");
  const viaNode = samplesOf(`treescale ${VIA_NODE}`);
  process.stdout.write(
    `* the floor: create+start per container, ${floorConcurrency} in flight (best of ${FLOOR_CONCURRENCY.join("/")})\n` +
      `ratios: treescale/compose = ${ratio(ts.up, samplesOf("docker-compose").up)} (target ≤ 0.80), ` +
      `treescale/floor = ${ratio(ts.up, floorSamples.up)} (target ≤ 1.15), ` +
      `treescale no-op = ${median(ts.noop).toFixed(0)} ms (target < 200 ms), ` +
      `through a node ${median(viaNode.noop).toFixed(0)} ms\n`,
  );
  if (builds.some((build) => build.label === "baseline")) {
    const baseline = samplesOf("baseline");
    const baselineViaNode = samplesOf(`baseline ${VIA_NODE}`);
    process.stdout.write(
      `treescale/baseline: up ${ratio(ts.up, baseline.up)}, no-op ${ratio(ts.noop, baseline.noop)}; ` +
        `through a node: up ${ratio(viaNode.up, baselineViaNode.up)}, no-op ${ratio(viaNode.noop, baselineViaNode.noop)} ` +
        "(below 1: this build is faster)\n",
    );
  }
}

/** The CLI alone: its embedded node plans and converges in the CLI's own process. */
function embedded(build: Build, home: string, manifest: string): Tool {
  const env = { ...process.env, TREESCALE_HOME: home };
  const apply = () =>
    exec(process.execPath, [build.cli, "apply", "--name", EMBEDDED_NODE, "-f", manifest], { env });
  return {
    name: build.label,
    async run(samples) {
      await rm(home, { recursive: true, force: true });
      samples.up.push((await timed(apply)).ms);
      samples.noop.push((await timed(apply)).ms);
      await expectRunning(build.label);
      await cleanup();
    },
  };
}

/** The CLI as a client of a running `treescale node` (its agent converging), as on a server. */
function throughNode(build: Build, home: string, manifest: string, tokens: string): Tool {
  const name = `${build.label} ${VIA_NODE}`;
  const env = { ...process.env, TREESCALE_HOME: home };
  return {
    name,
    async run(samples) {
      await rm(home, { recursive: true, force: true });
      const node = await startNodeProcess(build.cli, SERVED_NODE, ["--tokens", tokens, "--agent"], env);
      try {
        const apply = () =>
          exec(process.execPath, [build.cli, "apply", "--node", node.url, "--token", TOKEN, "-f", manifest], {
            env,
          });
        samples.up.push((await timed(apply)).ms);
        await expectRunning(name);
        for (let i = 0; i < NOOP_THROUGH_NODE; i++) samples.noop.push((await timed(apply)).ms);
      } finally {
        await stopProcess(node.process);
      }
      await cleanup();
    },
  };
}

/** Create and start every container with plain Engine API calls, `concurrency` in flight. */
async function floor(concurrency: number): Promise<void> {
  const indexes = Array.from({ length: COUNT }, (_, i) => i + 1);
  await runLimited(indexes, concurrency, async (i) => {
    const container = await docker.createContainer({
      name: `floor-bench-${i}`,
      Image: IMAGE,
      Cmd: COMMAND,
      Labels: { "treescale.bench": "floor" },
    });
    await container.start();
  });
}

async function expectRunning(tool: string): Promise<void> {
  const running = await docker.listContainers({ filters: { status: ["running"], ancestor: [IMAGE] } });
  if (running.length < COUNT)
    throw new Error(`${tool} left ${running.length} of ${COUNT} containers running`);
}

async function cleanup(): Promise<void> {
  for (const label of [
    `treescale.node=${EMBEDDED_NODE}`,
    `treescale.node=${SERVED_NODE}`,
    "treescale.bench=floor",
  ]) {
    const list = await docker.listContainers({ all: true, filters: { label: [label] } });
    await runLimited(list, 16, (c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    );
  }
}
