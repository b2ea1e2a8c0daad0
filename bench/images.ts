// `npm run bench -- images [--mb 200] [--targets 1,3,7]`: an image of --mb random megabytes (made
// locally) pushed through the tree to 1, 3 and 7 nodes of a binary tree, against the peers measured in
// the same run:
//   push N     `treescale image push --to tag:nN` from the CLI to the root (which shares this machine's
//              engine and has the image), until every target answered: source save, the hops, the loads.
//   floor N    `docker save | N × docker load` at once, the save stream copied to every load: one save and
//              N concurrent loads into the targets' engine, with no tree, no network, no check. What the
//              engines alone need for what a push N asks of them on this machine: push N / floor N is
//              what the tree adds.
//   load 1     the slowest of three single `docker load -i FILE` of the same image into the targets' engine.
//   serial N   `docker save | docker load` once per target, one after another (the image removed
//              between them, so each is a full load): what pushing without the tree costs.
//   archive N  `treescale image push -i FILE` of the saved file, through the first target (whose
//              engine lacks it, so the file itself crosses the links), against N concurrent
//              `docker load -i FILE` into the targets' engine: no save on either side, the issue's
//              comparison of a push with loading the same file.
// Each push is also split by the progress events the targets publish: the first chunk at a target (the
// engine's save has nothing to stream before it has exported the whole image), every chunk in at
// every target (the transfer), every load done (the engine registers the layers only after the stream).
// Beside each push: every node's peak RSS (sampled from /proc every 100 ms) and the CPU seconds it
// used, the machine's load average (on a shared machine the push competes for its two CPUs), and the
// slowest of the events published at the root every 100 ms and received at the deepest target, through
// the links the image crosses: the tree's events must not wait behind it (the issue's bound: 1 s).
// Every target node runs on ONE dockerd of the bench's own (its own data root and bridge): N targets
// means N concurrent loads of the same image into that one engine, which a fleet of N machines would
// not share. That engine is what "crosses engines" here; the root shares the machine's engine.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BusClient } from "../src/bus/client/index.js";
import { IMAGE_EVENTS, type ImageProgress } from "../src/images/wire.js";
import { PrivateDockerd } from "../test/support/private-dockerd.js";
import { type NodeProcess, startNodeProcess, stopProcess } from "./support/node-process.js";
import { residentBytesOf } from "./support/process-samples.js";
import { exec, printTable, timed } from "./support/timing.js";

const cli = fileURLToPath(new URL("../cli/treescale.js", import.meta.url));
const busyboxScript = fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url));
const BASE = "local/busybox:1";

export async function run(args: string[]): Promise<void> {
  const mbFlag = args.indexOf("--mb");
  const mb = mbFlag >= 0 ? Number(args[mbFlag + 1]) : 200;
  const targetsFlag = args.indexOf("--targets");
  const counts = (targetsFlag >= 0 ? (args[targetsFlag + 1] ?? "") : "1,3,7").split(",").map(Number);
  if (process.getuid?.() !== 0) {
    process.stdout.write("images: skipped, a dockerd of the bench's own needs root\n");
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), "tsbi-"));
  const engine = await PrivateDockerd.create();
  const image = `local/tsbench-images-${randomBytes(3).toString("hex")}:1`;
  const nodes: NodeProcess[] = [];
  try {
    await exec(busyboxScript, [BASE]);
    const maker = `tsbench-mk-${randomBytes(3).toString("hex")}`;
    await exec("docker", [
      "run",
      "--name",
      maker,
      BASE,
      "dd",
      "if=/dev/urandom",
      "of=/blob",
      "bs=1M",
      `count=${mb}`,
    ]);
    await exec("docker", ["commit", maker, image]);
    await exec("docker", ["rm", "-f", maker]);
    const file = join(dir, "image.tar");
    await exec("docker", ["save", "-o", file, image]);
    await engine.start();
    const remove = () => exec("docker", ["-H", engine.host, "rmi", "-f", image]).catch(() => undefined);

    const loads: number[] = [];
    for (let i = 0; i < 3; i++) {
      await remove();
      loads.push((await timed(() => exec("docker", ["-H", engine.host, "load", "-i", file]))).ms);
    }
    const oneLoad = Math.max(...loads);

    await writeFile(join(dir, "tokens"), "bench-token\n");
    await writeFile(join(dir, "secret"), "bench-secret\n");
    const common = (name: string) => [
      "--tokens",
      join(dir, "tokens"),
      "--cluster-secret",
      join(dir, "secret"),
      "--agent",
      "--home",
      join(dir, name),
      "--heartbeat",
      "1000",
    ];
    const root = await startNodeProcess(cli, "bi-root", common("root"));
    nodes.push(root);
    // t1 under the root; t2, t3 under t1; t4..t7 under t2 and t3. Tag nN: among the first N.
    for (let i = 1; i <= 7; i++) {
      const parent = i === 1 ? root : nodes[Math.floor(i / 2)]!;
      const tags = [1, 3, 7].filter((n) => i <= n).flatMap((n) => ["--tag", `n${n}`]);
      nodes.push(
        await startNodeProcess(cli, `bi-t${i}`, [...common(`t${i}`), ...tags, "--parent", parent.url], {
          ...process.env,
          DOCKER_HOST: engine.host,
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));

    const rows: string[][] = [];
    const archiveRows: string[][] = [];
    const usage: string[] = [];
    for (const n of counts) {
      await remove();
      const watched = nodes.slice(0, n + 1);
      const cpuBefore = await Promise.all(watched.map((node) => cpuSecondsOf(node.process.pid!)));
      const peaks = watched.map(() => 0);
      const sampler = setInterval(() => {
        watched.forEach((node, i) => {
          void residentBytesOf(node.process.pid!).then((bytes) => {
            peaks[i] = Math.max(peaks[i]!, bytes ?? 0);
          });
        });
      }, 100);
      const loadBefore = loadavg()[0]!;
      const latencies = await eventLatencies(root.url, nodes[n]!.url);
      const phases = await watchPhases(root.url, n);
      const push = await timed(() =>
        exec(process.execPath, [
          cli,
          "image",
          "push",
          image,
          "--to",
          `tag:n${n}`,
          "--node",
          root.url,
          "--token",
          "bench-token",
          "-o",
          "json",
        ]),
      );
      clearInterval(sampler);
      const slowest = await latencies.stop();
      const split = await phases.stop();
      const cpuAfter = await Promise.all(watched.map((node) => cpuSecondsOf(node.process.pid!)));
      usage.push(
        `push to ${n}: load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}; slowest of ${slowest.count} events root → ${nodes[n]!.name} during it: ${slowest.ms} ms; per node peak RSS / CPU: ${watched
          .map(
            (node, i) =>
              `${node.name} ${(peaks[i]! / 1e6).toFixed(0)} MB / ${(cpuAfter[i]! - cpuBefore[i]!).toFixed(1)} s`,
          )
          .join(", ")}`,
      );
      await remove();
      const floor = await timed(() => saveIntoLoads(image, engine.host, n));
      let serial = 0;
      for (let i = 0; i < n; i++) {
        await remove();
        serial += (
          await timed(() => exec("sh", ["-c", `docker save "$0" | docker -H "$1" load`, image, engine.host]))
        ).ms;
      }
      await remove();
      const archivePush = await timed(() =>
        exec(process.execPath, [
          cli,
          ...["image", "push", "-i", file, "--to", `tag:n${n}`, "--node", nodes[1]!.url],
          ...["--token", "bench-token", "-o", "json"],
        ]),
      );
      await remove();
      const loadsAtOnce = await timed(() =>
        Promise.all(
          Array.from({ length: n }, () => exec("docker", ["-H", engine.host, "load", "-q", "-i", file])),
        ),
      );
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      archiveRows.push([
        String(n),
        seconds(archivePush.ms),
        seconds(loadsAtOnce.ms),
        `${(archivePush.ms / loadsAtOnce.ms).toFixed(2)}×`,
        `${(archivePush.ms / oneLoad).toFixed(2)}×`,
      ]);
      rows.push([
        String(n),
        seconds(push.ms),
        `${seconds(split.firstChunk)} / ${seconds(split.allIn)} / ${seconds(split.allLoaded)}`,
        seconds(floor.ms),
        `${(push.ms / floor.ms).toFixed(2)}×`,
        seconds(oneLoad),
        `${(push.ms / oneLoad).toFixed(2)}×`,
        seconds(serial),
        `${(push.ms / serial).toFixed(2)}×`,
      ]);
    }
    process.stdout.write(
      `image of ${mb} MB random data; single docker load runs: ${loads.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s\n`,
    );
    printTable(
      [
        "targets",
        "push N",
        "1st chunk / all in / loaded",
        "floor N",
        "push/floor",
        "load 1",
        "push/load 1",
        "serial N",
        "push/serial",
      ],
      rows,
    );
    process.stdout.write("from the saved file (push -i through the first target; loads of the file):\n");
    printTable(["targets", "archive N", "N loads at once", "archive/loads", "archive/load 1"], archiveRows);
    process.stdout.write(`${usage.join("\n")}\n`);
  } finally {
    await Promise.all(nodes.map((node) => stopProcess(node.process)));
    await engine.destroy();
    await exec("docker", ["rmi", "-f", image]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** User and system CPU seconds a process used so far (utime + stime of /proc/PID/stat). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Clock ticks: 100 per second on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Events published at `from` every 100 ms and received at `to`, until stop(): how many, the slowest. */
async function eventLatencies(from: string, to: string) {
  const options = { token: "bench-token" };
  const near = await BusClient.connect({ url: from, events: [], ...options });
  const far = await BusClient.connect({ url: to, events: ["bench.beat"], ...options });
  const seen: number[] = [];
  far.onMessage((message) => seen.push(Date.now() - Number(message.text())));
  const beat = setInterval(() => near.publish("bench.beat", String(Date.now())), 100);
  return {
    async stop(): Promise<{ count: number; ms: number }> {
      clearInterval(beat);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await Promise.all([near.close(), far.close()]);
      return { count: seen.length, ms: seen.length > 0 ? Math.max(...seen) : Number.NaN };
    },
  };
}

/**
 * `docker save IMAGE` streamed into `n` concurrent `docker load`s on `host`, each fed every byte (the
 * save waits for the slowest): the engines' own work for a push to n targets, with no tree in between.
 */
async function saveIntoLoads(image: string, host: string, n: number): Promise<void> {
  const exited = (child: ReturnType<typeof spawn>, what: string) =>
    new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}`))));
    });
  const loads = Array.from({ length: n }, () =>
    spawn("docker", ["-H", host, "load", "-q"], { stdio: ["pipe", "ignore", "inherit"] }),
  );
  const save = spawn("docker", ["save", image], { stdio: ["ignore", "pipe", "inherit"] });
  for (const load of loads) save.stdout!.pipe(load.stdin!);
  await Promise.all([exited(save, "docker save"), ...loads.map((load) => exited(load, "docker load"))]);
}

/**
 * The progress the first `n` targets publish during a push, from now: when the first chunk reached a
 * target, when every target had every chunk (each says "loading"), when every one had loaded.
 */
async function watchPhases(url: string, n: number) {
  const client = await BusClient.connect({ url, events: [IMAGE_EVENTS.progress], token: "bench-token" });
  const started = performance.now();
  let firstChunk = Number.NaN;
  const allIn = new Map<string, number>();
  const loaded = new Map<string, number>();
  client.onMessage((message) => {
    const progress = message.json<ImageProgress>();
    const at = performance.now() - started;
    if (progress.bytes > 0 && Number.isNaN(firstChunk)) firstChunk = at;
    if (progress.phase === "loading") allIn.set(progress.node, at);
    if (progress.phase === "loaded") loaded.set(progress.node, at);
  });
  const last = (times: Map<string, number>) => (times.size === n ? Math.max(...times.values()) : Number.NaN);
  return {
    async stop(): Promise<{ firstChunk: number; allIn: number; allLoaded: number }> {
      await client.close();
      return { firstChunk, allIn: last(allIn), allLoaded: last(loaded) };
    },
  };
}
