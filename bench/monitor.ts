// `npm run bench -- monitor [--seconds=N] [--rounds=N] [--page-containers=N]`: what watching costs a
// node. A `treescale node` process runs 50 containers on this machine's dockerd; its own CPU (utime +
// stime from /proc) is measured over windows with nobody subscribed to container.stats and with one
// subscriber, the phases interleaved so that the machine's other load falls on both alike. Target:
// under 5 % of one core extra. The peer, measured in the same run: the `docker stats` client streaming
// the same 50 containers. Then what the page costs a browser with 500 containers (bench/dashboard.ts):
// its first full render and its main thread while every container's stats arrive each second.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { BusClient } from "../src/bus/client/index.js";
import { CONTAINER_STATS_EVENT, type ContainerStatsPayload } from "../src/model/usage.js";
import { removeContainersOfNode } from "../test/support/docker.js";
import { measureDashboard } from "./dashboard.js";
import { startNodeProcess, stopProcess } from "./support/node-process.js";
import { exec, median, printTable } from "./support/timing.js";

const CLI = fileURLToPath(new URL("../cli/treescale.js", import.meta.url));
const CONTAINERS = 50;
const TOKEN = "bench-token";
const TARGET_PERCENT = 5;
const docker = new Docker();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function option(args: string[], name: string, fallback: number): number {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  return given ? Number(given.slice(name.length + 3)) : fallback;
}

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

/** CPU seconds a process has used so far (user + system), from /proc/PID/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command (which may hold spaces) start at its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The process's CPU over `seconds` of wall time, as % of one core. */
async function cpuPercentOver(pid: number, seconds: number): Promise<number> {
  const cpuBefore = await cpuSeconds(pid);
  const wallBefore = performance.now();
  await sleep(seconds * 1000);
  const cpuAfter = await cpuSeconds(pid);
  return ((cpuAfter - cpuBefore) / ((performance.now() - wallBefore) / 1000)) * 100;
}

export async function run(args: string[]): Promise<void> {
  const seconds = option(args, "seconds", 15);
  const rounds = option(args, "rounds", 2);
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-monitor-"));
  const node = `benchmon${process.pid.toString(36)}`;
  const children: ChildProcess[] = [];
  let watcher: BusClient | undefined;
  try {
    await writeFile(join(dir, "tokens.txt"), `${TOKEN}\n`);
    const daemon = await startNodeProcess(CLI, node, [
      "--tokens",
      join(dir, "tokens.txt"),
      "--agent",
      "--home",
      join(dir, "home"),
    ]);
    children.push(daemon.process);
    const manifest = join(dir, "monitor.toml");
    await writeFile(
      manifest,
      `stack = "monitor"\n[containers.w]\nimage = "local/busybox:1"\nreplicas = ${CONTAINERS}\n` +
        `command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`,
    );
    process.stdout.write(`applying ${CONTAINERS} containers to node ${node}…\n`);
    await exec(process.execPath, [
      CLI,
      "apply",
      "--node",
      daemon.url,
      "--token",
      TOKEN,
      "--timeout",
      "300",
      "--yes",
      "-f",
      manifest,
    ]);
    // Let the apply's aftermath (events, relists) settle before measuring.
    await sleep(3000);

    const idle: number[] = [];
    const watched: number[] = [];
    let containersSeen = 0;
    for (let round = 0; round < rounds; round++) {
      idle.push(await cpuPercentOver(daemon.process.pid!, seconds));
      watcher = await BusClient.connect({ url: daemon.url, token: TOKEN, events: [CONTAINER_STATS_EVENT] });
      const full = new Promise<void>((resolve) => {
        watcher!.onMessage((message) => {
          const payload = message.json<ContainerStatsPayload>();
          containersSeen = payload.containers.filter((row) => row.cpuPercent !== null).length;
          if (containersSeen === CONTAINERS) resolve();
        });
      });
      await Promise.race([full, sleep(15_000)]);
      watched.push(await cpuPercentOver(daemon.process.pid!, seconds));
      await watcher.close();
      watcher = undefined;
      // The streams close when the interest leaves; give the engine's side a moment.
      await sleep(1000);
    }

    // The peer: docker's own client streaming the same containers' stats, its output thrown away.
    const ids = (await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } })).map(
      (c) => c.Id,
    );
    const dockerStats = spawn("docker", ["stats", "--format", "{{json .}}", ...ids], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let peerError = "";
    dockerStats.stderr.on("data", (chunk: Buffer) => {
      peerError += chunk.toString();
    });
    children.push(dockerStats);
    await sleep(2000);
    // A peer that could not run is said so; the node's own figures stand without it.
    const peer = await cpuPercentOver(dockerStats.pid!, seconds).catch(
      () => `docker stats exited: ${peerError.trim() || "no reason given"}`,
    );

    const idleMedian = median(idle);
    const watchedMedian = median(watched);
    const extra = watchedMedian - idleMedian;
    process.stdout.write(
      `\nnode process CPU, % of one core, ${seconds} s windows, ${rounds} rounds, ${CONTAINERS} containers ` +
        `(${containersSeen} with figures in the last snapshot)\n`,
    );
    const format = (values: number[]) => values.map((v) => v.toFixed(2)).join(" ");
    printTable(
      ["phase", "median %", "samples"],
      [
        ["nobody watching", idleMedian.toFixed(2), format(idle)],
        ["container.stats subscriber", watchedMedian.toFixed(2), format(watched)],
        ["extra for watching", extra.toFixed(2), `target < ${TARGET_PERCENT}`],
        ["peer: docker stats client, same 50", typeof peer === "number" ? peer.toFixed(2) : peer, ""],
      ],
    );
    process.stdout.write(
      `${extra < TARGET_PERCENT ? "within" : "OVER"} target: ${extra.toFixed(2)} % of one core extra\n`,
    );
  } finally {
    await watcher?.close().catch(() => undefined);
    await Promise.all(children.map(stopProcess));
    await removeContainersOfNode(node);
    await rm(dir, { recursive: true, force: true });
  }
  // After the node's figures, so that the browser's work does not fall in their windows.
  const page = await measureDashboard({
    count: option(args, "page-containers", 500),
    runs: 3,
    seconds: Math.min(seconds, 10),
  });
  process.stdout.write("\n");
  printTable(page.header, page.rows);
}
