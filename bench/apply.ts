// `npm run bench -- apply`: converge 50 containers from nothing with TreeScale, with
// docker-compose from an equivalent compose file, and with plain parallel Engine API calls
// (the floor: what the engine itself costs); then a no-op re-apply of each tool.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { exec, median, printTable, timed } from "./support/timing.js";

const COUNT = 50;
const IMAGE = "local/busybox:1";
const COMMAND = ["sleep", "3600"];
const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const docker = new Docker();

export async function run(args: string[]): Promise<void> {
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 3);
  await exec(fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url)), [IMAGE]);
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-"));
  const env = { ...process.env, TREESCALE_HOME: join(dir, "home") };
  await writeFile(
    join(dir, "bench.toml"),
    `[containers.bench]\nimage = "${IMAGE}"\nreplicas = ${COUNT}\ncommand = ${JSON.stringify(COMMAND)}\n`,
  );
  await writeFile(
    join(dir, "docker-compose.yml"),
    `version: "2.4"\nservices:\n  bench:\n    image: ${IMAGE}\n    command: ${JSON.stringify(COMMAND)}\n    scale: ${COUNT}\n    network_mode: bridge\n`,
  );
  const results: Record<string, { up: number[]; noop: number[] }> = {
    treescale: { up: [], noop: [] },
    "docker-compose": { up: [], noop: [] },
    "engine floor": { up: [], noop: [] },
  };
  try {
    for (let i = 0; i < runs; i++) {
      await cleanup();
      await rm(env.TREESCALE_HOME, { recursive: true, force: true });
      const treescale = ["apply", "--name", "bench", "-f", join(dir, "bench.toml")];
      results.treescale!.up.push(
        (await timed(() => exec(process.execPath, [CLI, ...treescale], { env }))).ms,
      );
      results.treescale!.noop.push(
        (await timed(() => exec(process.execPath, [CLI, ...treescale], { env }))).ms,
      );
      await expectRunning(COUNT, "treescale");
      await cleanup();

      const compose = ["-p", "tsbench", "-f", join(dir, "docker-compose.yml"), "up", "-d"];
      results["docker-compose"]!.up.push((await timed(() => exec("docker-compose", compose))).ms);
      results["docker-compose"]!.noop.push((await timed(() => exec("docker-compose", compose))).ms);
      await expectRunning(COUNT, "docker-compose");
      await exec("docker-compose", [
        "-p",
        "tsbench",
        "-f",
        join(dir, "docker-compose.yml"),
        "down",
        "-t",
        "0",
      ]);

      results["engine floor"]!.up.push((await timed(floor)).ms);
      results["engine floor"]!.noop.push(Number.NaN);
      await expectRunning(COUNT, "engine floor");
      await cleanup();
    }
  } finally {
    await cleanup();
    await exec("docker-compose", [
      "-p",
      "tsbench",
      "-f",
      join(dir, "docker-compose.yml"),
      "down",
      "-t",
      "0",
    ]).catch(() => "");
    await rm(dir, { recursive: true, force: true });
  }
  const ts = median(results.treescale!.up);
  const compose = median(results["docker-compose"]!.up);
  const engine = median(results["engine floor"]!.up);
  process.stdout.write(`converge ${COUNT} containers from nothing, median of ${runs} run(s):\n`);
  printTable(
    ["tool", "up (s)", "no-op re-apply (ms)"],
    Object.entries(results).map(([tool, r]) => [
      tool,
      (median(r.up) / 1000).toFixed(2),
      Number.isNaN(median(r.noop)) ? "-" : median(r.noop).toFixed(0),
    ]),
  );
  process.stdout.write(
    `ratios: treescale/compose = ${(ts / compose).toFixed(2)} (target ≤ 0.80), treescale/floor = ${(ts / engine).toFixed(2)} (target ≤ 1.15), ` +
      `treescale no-op = ${median(results.treescale!.noop).toFixed(0)} ms (target < 200 ms)\n`,
  );
}

/** Create and start every container with plain parallel Engine API calls. */
async function floor(): Promise<void> {
  await Promise.all(
    Array.from({ length: COUNT }, async (_, i) => {
      const container = await docker.createContainer({
        name: `floor-bench-${i + 1}`,
        Image: IMAGE,
        Cmd: COMMAND,
        Labels: { "treescale.bench": "floor" },
      });
      await container.start();
    }),
  );
}

async function expectRunning(count: number, tool: string): Promise<void> {
  const running = await docker.listContainers({ filters: { status: ["running"], ancestor: [IMAGE] } });
  if (running.length < count)
    throw new Error(`${tool} left ${running.length} of ${count} containers running`);
}

async function cleanup(): Promise<void> {
  const labels = ["treescale.node=bench", "treescale.bench=floor"];
  for (const label of labels) {
    const list = await docker.listContainers({ all: true, filters: { label: [label] } });
    await Promise.all(
      list.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  }
}
