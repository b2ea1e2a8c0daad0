// apply asks before it removes or recreates, as terraform does, when a person is at a terminal:
// driven through a pseudo-terminal (python3's pty module), answering yes and no.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerName } from "../../src/model/labels.js";
import {
  CLI,
  type CliResult,
  callerEnvironment,
  requireBuild,
  resultOf,
  runCli,
  scratch,
} from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

const docker = new Docker();
const node = uniqueNodeName("e2e-confirm");
const PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted:";
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;

/** Runs argv on a pseudo-terminal; answers `answer` once the prompt shows. Output is stdout and stderr merged. */
const PTY_DRIVER = `
import os, pty, sys
answer, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, sent = b"", False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and b"Only 'yes' will be accepted" in out:
        os.write(fd, (answer + "\\n").encode())
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
`;

function onTerminal(answer: string, args: string[]): Promise<CliResult> {
  const child = spawn("python3", ["-c", PTY_DRIVER, answer, process.execPath, CLI, ...args], {
    env: { ...callerEnvironment(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return resultOf(child);
}

const manifest = (mode: string) => `
[containers.web]
image = "${TEST_IMAGE}"
command = ["sh", "-c", "while true; do sleep 1; done"]
env = { MODE = "${mode}" }
`;

const applyArgs = (...extra: string[]) => [
  "apply",
  "--name",
  node,
  "--stop-timeout",
  "0",
  "-f",
  join(work.dir, "app"),
  ...extra,
];

async function webId(): Promise<string | undefined> {
  const name = containerName("app", node, "web", 1);
  const list = await docker.listContainers({ all: true, filters: { name: [`^/${name}$`] } });
  return list[0]?.Id;
}

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await work.write("app/web.toml", manifest("a"));
});

afterAll(async () => {
  await removeContainersOfNode(node);
  await work.remove();
});

describe("apply asks before destruction on a terminal", () => {
  it("does not ask when the plan only creates", async () => {
    const result = await onTerminal("no", applyArgs());
    expect(result.stdout).not.toContain(PROMPT);
    expect(result.code).toBe(0);
    expect(await webId()).toBeDefined();
  });

  it("asks before a recreate; an answer other than yes cancels, exits 1 and changes nothing", async () => {
    const before = await webId();
    await work.write("app/web.toml", manifest("b"));
    const result = await onTerminal("no", applyArgs());
    expect(result.stdout).toContain('~ env.MODE: "a" → "b"');
    expect(result.stdout).toContain(PROMPT);
    expect(result.stdout).toContain("Apply cancelled.");
    expect(result.code).toBe(1);
    expect(await webId()).toBe(before);
  });

  it("Ctrl-C at the question exits 130, says nothing was applied, and changes nothing", async () => {
    const before = await webId();
    const result = await onTerminal("\x03", applyArgs());
    expect(result.stdout).toContain(PROMPT);
    expect(result.stdout).toContain(
      "Interrupted while asking for confirmation: nothing was applied (no node was sent anything).",
    );
    expect(result.stdout).not.toContain("Apply cancelled.");
    expect(result.code).toBe(130);
    expect(await webId()).toBe(before);
  });

  it("--dry-run never asks", async () => {
    const result = await onTerminal("no", applyArgs("--dry-run"));
    expect(result.stdout).toContain("Plan: 0 to create, 1 to recreate, 0 to remove.");
    expect(result.stdout).not.toContain(PROMPT);
    expect(result.code).toBe(0);
  });

  it("yes goes ahead and recreates", async () => {
    const before = await webId();
    const result = await onTerminal("yes", applyArgs());
    expect(result.stdout).toContain(PROMPT);
    expect(result.stdout).toContain("Stack app converged.");
    expect(result.code).toBe(0);
    expect(await webId()).not.toBe(before);
  });

  it("--yes does not ask", async () => {
    await work.write("app/web.toml", manifest("c"));
    const before = await webId();
    const result = await onTerminal("no", applyArgs("--yes"));
    expect(result.stdout).not.toContain(PROMPT);
    expect(result.code).toBe(0);
    expect(await webId()).not.toBe(before);
  });

  it("stdin that is not a terminal is not asked", async () => {
    await work.write("app/web.toml", manifest("d"));
    const before = await webId();
    const result = await runCli(applyArgs(), { env });
    expect(result.stdout).not.toContain(PROMPT);
    expect(result.code).toBe(0);
    expect(await webId()).not.toBe(before);
  });
});
