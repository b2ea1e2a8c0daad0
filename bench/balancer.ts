// `npm run bench -- balancer`: the nftables balancer's two costs. Programming: N virtual services ×
// 10 endpoints written from nothing (one transaction), then one endpoint change with the N present,
// for N = 10, 1,000, 10,000 (the change should stay flat as N grows). Data plane: requests/s through the
// virtual address against straight to one backend, with the same load generator (wrk) in the same run.
// Needs root, nft and (for the data plane) wrk and dockerd; the services it makes are removed after.
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import {
  baseScript,
  dispatchMissing,
  ensureScript,
  NFT_TABLE,
  removeScript,
} from "../controllers/balancer/nft-rules.js";
import type { ServiceRules } from "../controllers/balancer/types.js";
import { runCommand } from "../src/drivers/command.js";
import { nft } from "../src/drivers/nft.js";
import { buildsFrom } from "./support/builds.js";
import { exec, median, printTable, timed } from "./support/timing.js";

const STACK = "bench";
const SIZES = [10, 1000, 10_000];
const CHANGES = 5;

/** Service i at 10.254.x.y:80 with 10 endpoints in 10.253/16: nothing is ever sent to them. */
function service(i: number, shift = 0): ServiceRules {
  return {
    vip: `10.254.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    port: 80,
    protocol: "tcp",
    alg: "rr",
    endpoints: Array.from({ length: 10 }, (_, e) => ({
      address: `10.253.${(i * 10 + e + shift) % 250}.${1 + (Math.floor((i * 10 + e) / 250) % 250)}`,
      port: 8080,
      weight: 1,
      target: "",
    })),
  };
}

/** The shift service i was last written with: the changes moved some of them along. */
function shiftOf(i: number, size: number): number {
  for (let c = CHANGES; c >= 1; c--) if (i === Math.floor((size * c) / (CHANGES + 1))) return c;
  return 0;
}

async function programming(): Promise<string[][]> {
  const rows: string[][] = [];
  for (const size of SIZES) {
    const names = Array.from({ length: size }, (_, i) => `s${i}`);
    const base = await nft.listTable(NFT_TABLE);
    const fromNothing = [
      ...baseScript(dispatchMissing(base)),
      ...names.flatMap((name, i) => ensureScript(STACK, name, service(i))),
    ];
    const full = await timed(() =>
      runCommand("nft", ["-f", "-"], { input: `${fromNothing.join("\n")}\n`, timeoutMs: 600_000 }),
    );
    const changes: number[] = [];
    for (let c = 1; c <= CHANGES; c++) {
      const i = Math.floor((size * c) / (CHANGES + 1));
      const script = ensureScript(STACK, names[i]!, service(i, c), service(i, c - 1));
      changes.push((await timed(() => nft.apply(`${script.join("\n")}\n`))).ms);
    }
    const cleanup = names.flatMap((name, i) => removeScript(STACK, name, service(i, shiftOf(i, size))));
    await runCommand("nft", ["-f", "-"], { input: `${cleanup.join("\n")}\n`, timeoutMs: 600_000 });
    process.stdout.write(
      `  ${size} services: from nothing ${(full.ms / 1000).toFixed(2)} s, one change ${median(changes).toFixed(1)} ms\n`,
    );
    rows.push([
      String(size),
      (full.ms / 1000).toFixed(2),
      median(changes).toFixed(1),
      changes.map((ms) => ms.toFixed(1)).join(" "),
    ]);
  }
  return rows;
}

async function dataPlane(): Promise<string> {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (error) {
    if ((error as { status?: number }).status === undefined)
      return "data plane: skipped, wrk is not installed (apt-get install wrk)";
  }
  const docker = new Docker();
  const containers = await Promise.all(
    [1, 2].map(async (n) => {
      const container = await docker.createContainer({
        Image: "local/busybox:1",
        name: `treescale-bench-lb-${process.pid}-${n}`,
        Cmd: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"],
        Labels: { "treescale.bench": "balancer" },
      });
      await container.start();
      return container;
    }),
  );
  try {
    const ips = await Promise.all(
      containers.map(async (c) => (await c.inspect()).NetworkSettings.Networks.bridge?.IPAddress ?? ""),
    );
    const subnet = (await docker.getNetwork("bridge").inspect()).IPAM?.Config?.[0]?.Subnet ?? "172.17.0.0/16";
    const [a, b] = subnet.split(".");
    const rules: ServiceRules = {
      vip: `${a}.${b}.255.250`,
      port: 8080,
      protocol: "tcp",
      alg: "rr",
      endpoints: ips.map((address) => ({ address, port: 80, weight: 1, target: "" })),
    };
    const base = await nft.listTable(NFT_TABLE);
    await nft.apply(
      `${[...baseScript(dispatchMissing(base)), ...ensureScript(STACK, "dataplane", rules)].join("\n")}\n`,
    );
    const rate = async (url: string) => {
      const stdout = await exec("wrk", ["-t2", "-c32", "-d5s", url]);
      return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
    };
    const direct = await rate(`http://${ips[0]}:80/`);
    const through = await rate(`http://${rules.vip}:8080/`);
    await nft.apply(`${removeScript(STACK, "dataplane", rules).join("\n")}\n`);
    return `data plane (wrk -t2 -c32 -d5s): straight to one backend ${direct.toFixed(0)} req/s, through the virtual address ${through.toFixed(0)} req/s, ratio ${(through / direct).toFixed(2)} (target ≥ 0.9)`;
  } finally {
    await Promise.all(containers.map((c) => c.remove({ force: true })));
  }
}

/**
 * From `docker rm -f` of a backend to the rules no longer sending to it, and to its replacement
 * being in them: the running agent (an embedded node kept up by `treescale events`) sees the engine's
 * events, heals the container and re-plans the balancer that depends on it.
 */
async function endpointChanges(trials: number): Promise<string> {
  const [build] = await buildsFrom([]);
  const cli = build?.cli ?? "";
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-lb-"));
  const env = { ...process.env, TREESCALE_HOME: join(dir, "home") };
  const name = `lbbench${process.pid}`;
  const docker = new Docker();
  const subnet = (await docker.getNetwork("bridge").inspect()).IPAM?.Config?.[0]?.Subnet ?? "172.17.0.0/16";
  const [a, b] = subnet.split(".");
  await mkdir(join(dir, "app"));
  await writeFile(
    join(dir, "app", "app.toml"),
    `stack = "lbbench"\n[containers.web]\nimage = "local/busybox:1"\nreplicas = 2\ncommand = ["sh", "-c", "mkdir -p /www && exec httpd -f -p 80 -h /www"]\n\n[balancers.front]\naddress = "${a}.${b}.255.251:8080"\nbackends = [{ container = "web", port = 80 }]\n`,
  );
  await exec(
    process.execPath,
    [cli, "apply", "--name", name, "--stop-timeout", "0", "-f", join(dir, "app")],
    { env },
  );
  const agent = spawn(process.execPath, [cli, "events", "--name", name, "--event", "drift"], {
    env,
    stdio: "ignore",
  });
  const rules = () => exec("nft", ["list", "chain", "ip", NFT_TABLE, "svc_lbbench_front"]);
  const gone: number[] = [];
  const back: number[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (let trial = 0; trial < trials; trial++) {
      const [victim] = await docker.listContainers({ filters: { label: [`treescale.node=${name}`] } });
      const ip = victim?.NetworkSettings.Networks.bridge?.IPAddress ?? "";
      const start = performance.now();
      await docker.getContainer(victim!.Id).remove({ force: true });
      for (;;) {
        const text = await rules();
        if (!gone[trial] && !text.includes(`${ip} . 80`)) gone[trial] = performance.now() - start;
        if (gone[trial] && (text.match(/ \. 80(?!\d)/g) ?? []).length === 2) {
          back[trial] = performance.now() - start;
          break;
        }
        if (performance.now() - start > 15_000) throw new Error("the rules did not follow within 15 s");
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    // The agent must be gone before the clean-up apply, or that apply would join its node as it stops.
    const exited = new Promise((resolve) => agent.once("exit", resolve));
    agent.kill("SIGTERM");
    await exited;
    await writeFile(join(dir, "none.toml"), "# nothing: the prune removes what the bench made\n");
    await exec(
      process.execPath,
      [
        cli,
        "apply",
        "--name",
        name,
        "--prune",
        "--allow-empty",
        "--stack",
        "lbbench",
        "-f",
        join(dir, "none.toml"),
      ],
      { env },
    ).catch((error: unknown) => process.stderr.write(`bench clean-up apply failed: ${String(error)}\n`));
    const left = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${name}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await rm(dir, { recursive: true, force: true });
  }
  const fmt = (values: number[]) =>
    `${median(values).toFixed(0)} ms [${values.map((v) => v.toFixed(0)).join(" ")}]`;
  return `endpoint change (docker rm -f of a backend, ${trials} trials): out of the rules ${fmt(gone)}, replacement in ${fmt(back)} (target: within 1 s)`;
}

export async function run(): Promise<void> {
  const rows = await programming();
  process.stdout.write("nftables programming (10 endpoints per service):\n");
  printTable(["services", "from nothing (s)", "one change (ms)", "change samples (ms)"], rows);
  process.stdout.write("target: one change < 50 ms, flat as services grow\n");
  process.stdout.write(`${await dataPlane()}\n`);
  process.stdout.write(`${await endpointChanges(5)}\n`);
}
