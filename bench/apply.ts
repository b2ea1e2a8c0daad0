// `npm run bench -- apply [--runs=N]`: converge 50 containers from nothing with TreeScale, with
// docker-compose from an equivalent compose file, and with plain Engine API calls (the floor:
// what the engine itself costs, at its best concurrency); then a no-op re-apply of each tool.
// Runs are noisy, so each is repeated, the tool order rotates between runs so warm-up favours
// none, and medians are printed beside every sample.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { runLimited } from "../src/util/run-limited.js";
import { exec, median, printTable, timed } from "./support/timing.js";

const COUNT = 50;
const IMAGE = "local/busybox:1";
const COMMAND = ["sleep", "3600"];
const FLOOR_CONCURRENCY = [8, 16, 50] as const;
const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const docker = new Docker();

type Samples = { up: number[]; noop: number[] };
type Tool = { name: string; run(samples: Samples): Promise<void> };

export async function run(args: string[]): Promise<void> {
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice("--runs=".length) ?? 3);
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-"));
  const home = join(dir, "home");
  const env = { ...process.env, TREESCALE_HOME: home };
  const manifest = join(dir, "bench.toml");
  const composeFile = join(dir, "docker-compose.yml");
  await writeFile(
    manifest,
    `[containers.bench]\nimage = "${IMAGE}"\nreplicas = ${COUNT}\ncommand = ${JSON.stringify(COMMAND)}\n`,
  );
  await writeFile(
    composeFile,
    `version: "2.4"\nservices:\n  bench:\n    image: ${IMAGE}\n    command: ${JSON.stringify(COMMAND)}\n    scale: ${COUNT}\n    network_mode: bridge\n`,
  );
  const compose = (...rest: string[]) =>
    exec("docker-compose", ["-p", "tsbench", "-f", composeFile, ...rest]);
  const treescale = () => exec(process.execPath, [CLI, "apply", "--name", "bench", "-f", manifest], { env });

  const floors = new Map<number, Samples>(FLOOR_CONCURRENCY.map((c) => [c, { up: [], noop: [] }]));
  const tools: Tool[] = [
    {
      name: "treescale",
      async run(samples) {
        await rm(home, { recursive: true, force: true });
        samples.up.push((await timed(treescale)).ms);
        samples.noop.push((await timed(treescale)).ms);
        await expectRunning("treescale");
        await cleanup();
      },
    },
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
  const ts = results.get("treescale") as Samples;
  const dc = results.get("docker-compose") as Samples;
  const seconds = (values: number[]) => values.map((ms) => (ms / 1000).toFixed(2)).join(" ");
  const millis = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(" ");
  process.stdout.write(
    `\nconverge ${COUNT} containers from nothing, ${runs} run(s), median [all samples]:\n`,
  );
  printTable(
    ["tool", "up (s)", "up samples (s)", "no-op (ms)", "no-op samples (ms)"],
    [
      ...[ts, dc].map((samples, i) => [
        i === 0 ? "treescale" : "docker-compose",
        (median(samples.up) / 1000).toFixed(2),
        seconds(samples.up),
        median(samples.noop).toFixed(0),
        millis(samples.noop),
      ]),
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
  process.stdout.write(
    `* the floor: create+start per container, ${floorConcurrency} in flight (best of ${FLOOR_CONCURRENCY.join("/")})\n` +
      `ratios: treescale/compose = ${ratio(ts.up, dc.up)} (target ≤ 0.80), ` +
      `treescale/floor = ${ratio(ts.up, floorSamples.up)} (target ≤ 1.15), ` +
      `treescale no-op = ${median(ts.noop).toFixed(0)} ms (target < 200 ms)\n`,
  );
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
  for (const label of ["treescale.node=bench", "treescale.bench=floor"]) {
    const list = await docker.listContainers({ all: true, filters: { label: [label] } });
    await runLimited(list, 16, (c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    );
  }
}
