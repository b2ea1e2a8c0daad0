// `npm run bench -- build [--runs=N] [--baseline=DIR]`: `treescale build` of 1 root + 4 children,
// each "server" an sshd of the bench's own on a loopback port (root login with a key), all sharing
// this machine's dockerd: from nothing (no treescale-<name> container, volume or files), then a no-op
// build, whose target is under 1 s for the 5 servers. A no-op learns through the tree (the recorded
// context's root, agent.state) that every node answers under its parent as this build would make it
// and logs in nowhere; `--check-ssh` is timed too (one SSH exec per server, the user's login shell and
// its rc files included), and beside them, in the same run, the floors a no-op cannot go under: the
// CLI's own start-up (`treescale --version`) and OpenSSH's `ssh host true` to the 5 servers at once.
// The servers share this machine's engine, so the node image is already there: "from nothing" sends
// no image, and says so. --baseline=DIR times the treescale built in DIR (an older commit's checkout)
// the same way in the same run, turn about with this one, so both meet the same machine load.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Docker from "dockerode";
import { removeBuiltServers } from "../test/support/built-servers.js";
import { freePort } from "../test/support/net.js";
import { makeClientKey, type Sshd, sshdUnavailable, startSshd } from "../test/support/sshd.js";
import { buildsFrom } from "./support/builds.js";
import { median, printTable, timed } from "./support/timing.js";

const CHILDREN = 4;
const NOOP_TARGET_MS = 1000;
const docker = new Docker();
const execFileAsync = promisify(execFile);

type Output = { stdout: string; stderr: string };

export async function run(args: string[]): Promise<void> {
  const unavailable = sshdUnavailable();
  if (unavailable) {
    process.stdout.write(`skipped: ${unavailable}\n`);
    return;
  }
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice("--runs=".length) ?? 3);
  const builds = await buildsFrom(args);
  const script = fileURLToPath(new URL("../../scripts/build-node-image.sh", import.meta.url));
  const { stdout: imageId } = await execFileAsync(script, [], { maxBuffer: 1 << 20 });
  const suffix = Math.random().toString(36).slice(2, 7);
  // A tag of the bench's own: another build of treescale/node:<version> meanwhile (tests, other
  // checkouts) would otherwise turn the no-op into a recreate of every node.
  const image = `treescale/node-bench:${suffix}`;
  await docker.getImage(imageId.trim()).tag({ repo: "treescale/node-bench", tag: suffix });
  const names = ["bench-root", ...Array.from({ length: CHILDREN }, (_, i) => `bench-c${i + 1}`)].map(
    (name) => `${name}-${suffix}`,
  );
  const dir = await mkdtemp(join(tmpdir(), "treescale-bench-build-"));
  const sshds: Sshd[] = [];
  const samples = new Map(
    builds.map((b) => [
      b.label,
      { fromNothing: [] as number[], noop: [] as number[], noopSsh: [] as number[] },
    ]),
  );
  const floors = { cliStart: [] as number[], openssh: [] as number[] };
  const loads: number[] = [];
  let steps = new Map<string, { ran: number; changed: number }[]>();
  /** Per build and kind of no-op, the commands each server's sshd started during its last one (one per exec channel). */
  const execs = new Map<string, number[]>();
  const commandsStarted = () =>
    sshds.map((sshd) => sshd.log.filter((line) => line.includes("Starting session: command")).length);
  try {
    const key = await makeClientKey(dir);
    for (const _ of names) sshds.push(await startSshd({ authorizedKeys: { root: [key.publicKey] } }));
    const ports = await Promise.all(names.map(() => freePort()));
    const [root, ...children] = names;
    await writeFile(
      join(dir, "console.toml"),
      `tree = "treescale.toml"\n${names
        .map(
          (name, i) => `[ssh.${name}]\nhost = "127.0.0.1"\nport = "${sshds[i]!.port}"\nkey = "${key.path}"\n`,
        )
        .join("\n")}`,
    );
    await writeFile(
      join(dir, "treescale.toml"),
      names
        .map(
          (name, i) =>
            `[servers.${name}]\nip = "127.0.0.1"\nservice_port = ${ports[i]}\n` +
            (name === root ? `childs = ${JSON.stringify(children)}\n` : ""),
        )
        .join("\n"),
    );
    const home = join(dir, "home");
    await mkdir(home);
    // HOME too: the servers' host keys go to a known_hosts of the bench's own.
    const {
      TREESCALE_NODE: _node,
      TREESCALE_TOKEN: _token,
      TREESCALE_CONTEXT: _context,
      ...caller
    } = process.env;
    const env = { ...caller, TREESCALE_HOME: join(dir, "treescale"), HOME: home };
    const build = (cli: string, ...flags: string[]) =>
      timed(() =>
        buildOnce(
          cli,
          ["build", "-f", join(dir, "console.toml"), "--accept-new-host-keys", "--image", image, ...flags],
          env,
        ),
      );
    const noopOnce = async (label: string, cli: string, flags: string[], into: number[]) => {
      const before = commandsStarted();
      const noop = await build(cli, ...flags);
      into.push(noop.ms);
      execs.set(
        `${label}${flags.join(" ")}`,
        commandsStarted().map((count, s) => count - before[s]!),
      );
      if (!noop.value.stdout.includes("No changes"))
        throw new Error(`${label}: the no-op build changed something:\n${noop.value.stdout}`);
      return noop;
    };
    const opensshTrue = () =>
      Promise.all(
        sshds.map((sshd) =>
          execFileAsync("ssh", [
            ...["-i", key.path, "-p", String(sshd.port), "-o", "BatchMode=yes"],
            ...[
              "-o",
              `UserKnownHostsFile=${join(home, ".ssh", "known_hosts")}`,
              "-o",
              "StrictHostKeyChecking=yes",
            ],
            "root@127.0.0.1",
            "true",
          ]),
        ),
      );
    for (let i = 0; i < runs; i++) {
      for (const { label, cli } of builds) {
        loads.push(loadavg()[0]!);
        await removeBuiltServers(names);
        const fromNothing = await build(cli);
        const sample = samples.get(label)!;
        sample.fromNothing.push(fromNothing.ms);
        const noop = await noopOnce(label, cli, [], sample.noop);
        // An older checkout has no --check-ssh: its plain no-op is its SSH one.
        if (label === builds[0]!.label) await noopOnce(label, cli, ["--check-ssh"], sample.noopSsh);
        if (label === builds[0]!.label)
          steps = new Map(
            names.map((name) => [
              name,
              [stepsOf(fromNothing.value.stderr, name), stepsOf(noop.value.stderr, name)],
            ]),
          );
        process.stdout.write(
          `run ${i + 1}/${runs} ${label} (load ${loadavg()[0]!.toFixed(1)}): from nothing ${(fromNothing.ms / 1000).toFixed(2)} s, ` +
            `no-op ${noop.ms.toFixed(0)} ms${sample.noopSsh[i] === undefined ? "" : `, no-op --check-ssh ${sample.noopSsh[i]!.toFixed(0)} ms`}\n`,
        );
      }
      floors.cliStart.push(
        (await timed(() => execFileAsync(process.execPath, [builds[0]!.cli, "--version"]))).ms,
      );
      floors.openssh.push((await timed(opensshTrue)).ms);
      loads.push(loadavg()[0]!);
    }
  } finally {
    await removeBuiltServers(names);
    await Promise.all(sshds.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
    await docker
      .getImage(image)
      .remove()
      .catch(() => undefined);
  }

  process.stdout.write(
    `\nbuild of 1 root + ${CHILDREN} children over loopback sshd, ${runs} run(s), median [all samples].\n` +
      `The servers share this machine's dockerd: Docker is present and the node image (${imageId.trim().slice(7, 19)}) ` +
      `is already there, so "from nothing" (no node containers, volumes or files) sends no image.\n`,
  );
  const seconds = (values: number[]) => values.map((ms) => (ms / 1000).toFixed(2)).join(" ");
  printTable(
    ["treescale", "build", "median (s)", "samples (s)"],
    [
      ...[...samples].flatMap(([label, { fromNothing, noop, noopSsh }]) => [
        [label, "from nothing", (median(fromNothing) / 1000).toFixed(2), seconds(fromNothing)],
        [label, "no-op", (median(noop) / 1000).toFixed(2), seconds(noop)],
        ...(noopSsh.length > 0
          ? [[label, "no-op --check-ssh", (median(noopSsh) / 1000).toFixed(2), seconds(noopSsh)]]
          : []),
      ]),
      ["floor", "treescale --version", (median(floors.cliStart) / 1000).toFixed(2), seconds(floors.cliStart)],
      [
        "peer",
        `OpenSSH: ssh true ×${names.length} at once`,
        (median(floors.openssh) / 1000).toFixed(2),
        seconds(floors.openssh),
      ],
    ],
  );
  process.stdout.write(
    `\nsteps per server (checked / acted on) in ${builds[0]!.label}'s last run; SSH exec channels its sshd started in each build's last no-op:\n`,
  );
  const execColumns = [
    ...builds.map((b) => ({ key: b.label, title: `no-op execs (${b.label})` })),
    { key: `${builds[0]!.label}--check-ssh`, title: "no-op --check-ssh execs" },
  ];
  printTable(
    ["server", "from nothing", "no-op", ...execColumns.map((c) => c.title)],
    [...steps].map(([name, [first, noop]], s) => [
      name,
      `${first?.ran}/${first?.changed}`,
      `${noop?.ran}/${noop?.changed}`,
      ...execColumns.map((c) => String(execs.get(c.key)?.[s] ?? "?")),
    ]),
  );
  const noopMedian = median(samples.get(builds[0]!.label)!.noop);
  process.stdout.write(
    `machine: ${cpus().length} CPUs, 1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} during the runs` +
      `${Math.max(...loads) > 3 ? " (above 3: the figures are upper bounds of what a quiet machine takes)" : ""}\n` +
      `no-op (through the tree, no SSH) for ${names.length} servers: ${noopMedian.toFixed(0)} ms (target < ${NOOP_TARGET_MS} ms: ${noopMedian < NOOP_TARGET_MS ? "met" : "missed"})\n`,
  );
}

/** One `treescale build` to its end; a non-zero exit is the bench's failure. */
async function buildOnce(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<Output> {
  try {
    return await execFileAsync(process.execPath, [cli, ...args], { env, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`treescale build failed:\n${stdout ?? ""}${stderr ?? ""}`, { cause: error });
  }
}

/** The steps a build reported for a server (its `[name] step: result (…)` lines), and how many acted. */
function stepsOf(stderr: string, name: string): { ran: number; changed: number } {
  const results = stderr
    .split("\n")
    .filter((line) => line.startsWith(`[${name}] `))
    .map((line) => /^\[[^\]]+\] \w+: (unchanged|changed|would-change) \(/.exec(line)?.[1])
    .filter((result) => result !== undefined);
  return { ran: results.length, changed: results.filter((r) => r !== "unchanged").length };
}
