// The steps that make a server run a node, each a check then an action only when the check says so,
// as Ansible and Kamal do: what Docker, which image, which files, which container. Commands are
// argument arrays (the session quotes each word); nothing here builds a shell line from a manifest
// value. The decisions are pure functions of what the checks read, so each is a unit test.
import { createHash, randomBytes } from "node:crypto";
import { BUILD_ENV } from "../../src/model/build-identity.js";
import type { ImageSource, RemoteSession, RunResult } from "./session.js";

export const STEP_NAMES = ["system", "docker", "image", "config", "node"] as const;
export type StepName = (typeof STEP_NAMES)[number];

export type StepResult = {
  step: StepName;
  result: "unchanged" | "changed" | "would-change";
  detail: string;
  /** What the server has once the step is done (Docker's version; the image's tag and short ID). */
  found?: string;
};

/** A step that could not be done, with what it ran and what the server said. */
export class StepError extends Error {
  readonly code = "SERVER_STEP_FAILED";
  constructor(
    readonly step: StepName,
    message: string,
  ) {
    super(`${step}: ${message}`);
  }
}

/** What the node on a server is given: its files (path relative to its config folder → content and mode). */
export type NodeBundle = {
  node: string;
  files: Record<string, { content: string; mode: number }>;
  /** `treescale node` arguments after the image's entrypoint. */
  args: string[];
};

export type StepContext = {
  session: RemoteSession;
  image: ImageSource;
  bundle: NodeBundle;
  dryRun: boolean;
  signal?: AbortSignal;
  /** Said before an action starts (an upload takes a while). */
  acting(step: StepName, what: string): void;
};

/** Where a node's files live on its server, and the names of what runs it. */
export function layout(node: string): { dir: string; container: string; volume: string } {
  return {
    dir: `/etc/treescale/${node}`,
    container: `treescale-${node}`,
    volume: `treescale-home-${node}`,
  };
}

export type SystemFacts = {
  os: string;
  version: string;
  arch: string;
  root: boolean;
  init: "systemd" | "other";
};

/** `/etc/os-release` → distribution id and version. */
export function parseOsRelease(text: string): { os: string; version: string } {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const equals = line.indexOf("=");
    if (equals > 0) fields.set(line.slice(0, equals), line.slice(equals + 1).replace(/^"|"$/g, ""));
  }
  return { os: fields.get("ID") ?? "unknown", version: fields.get("VERSION_ID") ?? "" };
}

/** How a distribution's own Docker package is installed and started; undefined where we do not know it. */
export function dockerInstall(facts: SystemFacts): string[][] | undefined {
  const apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"];
  const start =
    facts.init === "systemd" ? ["systemctl", "enable", "--now", "docker"] : ["service", "docker", "start"];
  if (["debian", "ubuntu", "raspbian"].includes(facts.os))
    return [[...apt, "update"], [...apt, "install", "-y", "docker.io"], start];
  if (["fedora", "centos", "rhel", "rocky", "almalinux"].includes(facts.os))
    return [["dnf", "install", "-y", "moby-engine"], start];
  if (facts.os === "alpine") return [["apk", "add", "docker"], ["rc-update", "add", "docker"], start];
  return undefined;
}

export function sha256(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/** The label a node container carries: what it was made from, so a change of any part recreates it. */
export function buildHash(imageId: string, bundle: NodeBundle): string {
  const files = Object.entries(bundle.files)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, file]) => `${path}:${file.mode}:${sha256(file.content)}`);
  return sha256([imageId, ...files, ...bundle.args].join("\n")).slice(0, 16);
}

/** `docker inspect` of the node container → whether it is the one wanted and running. */
export function containerDecision(
  inspect: RunResult,
  hash: string,
): { action: "keep" | "create" | "recreate"; why: string } {
  if (inspect.code !== 0) return { action: "create", why: "no node container" };
  const [running, label] = inspect.stdout.trim().split(" ");
  if (label !== hash)
    return { action: "recreate", why: `built from something else (${label || "no label"})` };
  if (running !== "true") return { action: "recreate", why: "not running" };
  return { action: "keep", why: "running, as built" };
}

async function must(
  step: StepName,
  context: StepContext,
  argv: readonly string[],
  sudo: boolean,
  options: { timeoutMs?: number; stdin?: string } = {},
): Promise<RunResult> {
  const result = await context.session.run(argv, {
    sudo,
    ...options,
    ...(context.signal ? { signal: context.signal } : {}),
  });
  if (result.code !== 0) throw runFailed(step, argv, result);
  return result;
}

function runFailed(step: StepName, argv: readonly string[], result: RunResult): StepError {
  return new StepError(
    step,
    `\`${argv.join(" ")}\` exited ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 400)}`,
  );
}

/**
 * The reads each step after `system` starts with. None depends on what an earlier step does (the
 * node's decision compares its container with the wanted image's ID, not the server's), so a build
 * sends them with system's own: a server logged into as root and already as built costs one round.
 */
export function checkReads(node: string, image: ImageSource, bundle: NodeBundle) {
  const { dir, container } = layout(node);
  return {
    docker: ["docker", "version", "--format", "{{.Server.Version}}"],
    image: ["docker", "image", "inspect", "--format", "{{.Id}}", image.tag],
    config: ["sha256sum", ...Object.keys(bundle.files).map((name) => `${dir}/${name}`)],
    node: [
      "docker",
      "inspect",
      "--format",
      '{{.State.Running}} {{index .Config.Labels "treescale.build"}}',
      container,
    ],
  } satisfies Record<Exclude<StepName, "system">, string[]>;
}

/** `sha256sum` output → each file's checksum by path (files it could not read are absent). */
export function parseChecksums(stdout: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match) sums.set(match[2]!, match[1]!);
  }
  return sums;
}

/** What `system` reads, in the order systemStep takes their answers: none needs sudo. */
export const SYSTEM_READS = [
  ["id", "-u"],
  ["uname", "-m"],
  ["cat", "/etc/os-release"],
  ["test", "-d", "/run/systemd/system"],
] as const satisfies readonly (readonly string[])[];

/** The server's facts from the answers to SYSTEM_READS; then, as a user other than root, whether sudo works. */
export async function systemStep(
  context: StepContext,
  reads: readonly RunResult[],
): Promise<{ facts: SystemFacts; result: StepResult }> {
  const answer = (i: number) => {
    const read = reads[i];
    if (!read) throw new StepError("system", `no answer to \`${SYSTEM_READS[i]!.join(" ")}\``);
    return read;
  };
  for (const i of [0, 1, 2]) if (answer(i).code !== 0) throw runFailed("system", SYSTEM_READS[i]!, answer(i));
  const facts: SystemFacts = {
    ...parseOsRelease(answer(2).stdout),
    arch: answer(1).stdout.trim(),
    root: answer(0).stdout.trim() === "0",
    init: answer(3).code === 0 ? "systemd" : "other",
  };
  if (!facts.root) await must("system", context, ["true"], true, { timeoutMs: 15_000 });
  return {
    facts,
    result: {
      step: "system",
      result: "unchanged",
      detail: `${facts.os} ${facts.version} ${facts.arch}, ${facts.root ? "root" : "sudo"}`,
    },
  };
}

export async function dockerStep(context: StepContext, facts: SystemFacts): Promise<StepResult> {
  const version = () =>
    context.session.run(checkReads(context.bundle.node, context.image, context.bundle).docker, {
      sudo: !facts.root,
      timeoutMs: 20_000,
      ...(context.signal ? { signal: context.signal } : {}),
    });
  const before = await version();
  if (before.code === 0)
    return {
      step: "docker",
      result: "unchanged",
      detail: `Docker ${before.stdout.trim()}`,
      found: before.stdout.trim(),
    };
  const install = dockerInstall(facts);
  if (!install)
    throw new StepError(
      "docker",
      `Docker does not answer and TreeScale does not know how to install it on ${facts.os}: install it, then build again`,
    );
  if (context.dryRun)
    return { step: "docker", result: "would-change", detail: `install ${facts.os}'s Docker package` };
  context.acting("docker", "installing the distribution's Docker package");
  for (const argv of install) await must("docker", context, argv, !facts.root, { timeoutMs: 600_000 });
  const after = await version();
  if (after.code !== 0)
    throw new StepError("docker", `installed, but Docker still does not answer: ${after.stderr.trim()}`);
  return {
    step: "docker",
    result: "changed",
    detail: `installed Docker ${after.stdout.trim()}`,
    found: after.stdout.trim(),
  };
}

/** Uploads (and the SFTP temp files of uploads) left by builds that ended over half an hour ago. */
const STALE_UPLOADS = [
  "find",
  "/tmp",
  "-maxdepth",
  "1",
  "(",
  "-name",
  "treescale-image-*.tar",
  "-o",
  "-name",
  ".treescale-image-*.tar.treescale-*",
  ")",
  "-mmin",
  "+30",
  "-delete",
] as const;

export async function imageStep(context: StepContext, facts: SystemFacts): Promise<StepResult> {
  const { image } = context;
  const wanted = await image.id();
  const held = await context.session.run(checkReads(context.bundle.node, image, context.bundle).image, {
    sudo: !facts.root,
    ...(context.signal ? { signal: context.signal } : {}),
  });
  const found = `${image.tag} ${short(wanted)}`;
  if (held.code === 0 && held.stdout.trim() === wanted)
    return { step: "image", result: "unchanged", detail: found, found };
  if (context.dryRun) return { step: "image", result: "would-change", detail: `send ${found}` };
  context.acting("image", `sending ${image.tag} (docker save → SFTP → docker load)`);
  // A build killed during an upload or a load leaves its archive behind: an upload first clears those
  // old enough to be no other build's in progress (best effort: another user's are not ours to
  // remove). Each upload has a name of its own, so servers sharing a /tmp never load or remove
  // each other's.
  await context.session.run(STALE_UPLOADS);
  const path = `/tmp/treescale-image-${short(wanted)}-${randomBytes(4).toString("hex")}.tar`;
  await context.session.upload(image.save(), path, context.signal ? { signal: context.signal } : {});
  try {
    await must("image", context, ["docker", "load", "-i", path], !facts.root, { timeoutMs: 600_000 });
  } finally {
    await context.session.run(["rm", "-f", path]);
  }
  return { step: "image", result: "changed", detail: `loaded ${found}`, found };
}

export async function configStep(context: StepContext, facts: SystemFacts): Promise<StepResult> {
  const { dir } = layout(context.bundle.node);
  const sudo = !facts.root;
  // One read for every file: sha256sum exits 1 when one is missing and still sums the others.
  const held = parseChecksums(
    (
      await context.session.run(checkReads(context.bundle.node, context.image, context.bundle).config, {
        sudo,
      })
    ).stdout,
  );
  const changed = Object.entries(context.bundle.files)
    .filter(([name, file]) => held.get(`${dir}/${name}`) !== sha256(file.content))
    .map(([name]) => name);
  if (changed.length > 0 && !context.dryRun)
    await must("config", context, ["mkdir", "-p", "-m", "0700", dir], sudo);
  for (const name of context.dryRun ? [] : changed) {
    const file = context.bundle.files[name]!;
    await context.session.writeFile(`${dir}/${name}`, file.content, {
      mode: file.mode,
      sudo,
      ...(context.signal ? { signal: context.signal } : {}),
    });
  }
  if (changed.length === 0) return { step: "config", result: "unchanged", detail: `${dir} as built` };
  return {
    step: "config",
    result: context.dryRun ? "would-change" : "changed",
    detail: `${context.dryRun ? "write" : "wrote"} ${changed.join(", ")} in ${dir}`,
  };
}

export async function nodeStep(context: StepContext, facts: SystemFacts): Promise<StepResult> {
  const { container, volume, dir } = layout(context.bundle.node);
  const sudo = !facts.root;
  const hash = buildHash(await context.image.id(), context.bundle);
  const inspect = await context.session.run(
    checkReads(context.bundle.node, context.image, context.bundle).node,
    { sudo },
  );
  const decision = containerDecision(inspect, hash);
  if (decision.action === "keep")
    return { step: "node", result: "unchanged", detail: `${container} ${decision.why}` };
  if (context.dryRun)
    return {
      step: "node",
      result: "would-change",
      detail: `${decision.action} ${container}: ${decision.why}`,
    };
  context.acting("node", `${decision.action} ${container}: ${decision.why}`);
  if (decision.action === "recreate") await must("node", context, ["docker", "rm", "-f", container], sudo);
  const run = [
    "docker",
    "run",
    "-d",
    "--name",
    container,
    "--restart",
    "always",
    "--network",
    "host",
    "--label",
    `treescale.build=${hash}`,
    // The node says it in agent.state: a later build sees through the tree that nothing changed.
    "--env",
    `${BUILD_ENV}=${hash}`,
    "-v",
    "/var/run/docker.sock:/var/run/docker.sock",
    "-v",
    `${dir}:/etc/treescale:ro`,
    "-v",
    `${volume}:/var/lib/treescale`,
    context.image.tag,
    ...context.bundle.args,
  ];
  const started = await context.session.run(run, {
    sudo,
    timeoutMs: 60_000,
    ...(context.signal ? { signal: context.signal } : {}),
  });
  if (started.code !== 0) {
    // A build killed during its `docker run` leaves that command running on the server: the
    // container it makes appears after this build's check. It is this node's by name: replaced.
    if (!/is already in use/.test(started.stderr)) throw runFailed("node", run, started);
    context.acting("node", `replace ${container}: made meanwhile by an interrupted build`);
    await must("node", context, ["docker", "rm", "-f", container], sudo);
    await must("node", context, run, sudo, { timeoutMs: 60_000 });
  }
  return {
    step: "node",
    result: "changed",
    detail: `${decision.action === "create" ? "started" : "recreated"} ${container}`,
  };
}

function short(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}
