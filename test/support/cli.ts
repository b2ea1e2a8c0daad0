// Runs the built `treescale` binary as a user would, in a private TREESCALE_HOME.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/cli/treescale.js", import.meta.url));

export type CliResult = { code: number; stdout: string; stderr: string };

/** The test's own environment, minus what would point the CLI at some other tree or engine. */
export function callerEnvironment(): NodeJS.ProcessEnv {
  const { TREESCALE_NODE: _node, TREESCALE_TOKEN: _token, TREESCALE_HOME: _home, ...rest } = process.env;
  return rest;
}

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

export function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...callerEnvironment(), ...options.env },
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.end(options.stdin ?? "");
    resultOf(child).then(resolve, reject);
  });
}

/**
 * `treescale apply -f MANIFESTS ARGS` through the node at `url`, with the token BusFixture's nodes accept
 * and a minute to converge (seconds-scale on a loaded machine).
 */
export function applyThrough(url: string, manifests: string, ...args: string[]): Promise<CliResult> {
  return runCli([
    "apply",
    "--node",
    url,
    "--token",
    "good-token",
    "--timeout",
    "60",
    "-f",
    manifests,
    ...args,
  ]);
}

/** A process's exit code and everything it printed, once it has ended. */
export function resultOf(child: ChildProcess): Promise<CliResult> {
  return captured(child).done;
}

/** A CLI verb that runs until stopped (watch, events, logs -f, get -w, a waiting publish). */
export type RunningCli = {
  child: ChildProcess;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
};

/** Starts `treescale ARGS` in the caller's environment plus `env`, its output readable as it comes. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...callerEnvironment(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { child, ...captured(child) };
}

function captured(child: ChildProcess): Omit<RunningCli, "child"> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { stdout: () => stdout, stderr: () => stderr, done };
}

/** A scratch directory with files written from a name → content map; remove() cleans it up. */
export async function scratch(files: Record<string, string> = {}): Promise<{
  dir: string;
  write(name: string, content: string): Promise<string>;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "treescale-test-"));
  const write = async (name: string, content: string) => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  for (const [name, content] of Object.entries(files)) await write(name, content);
  return { dir, write, remove: () => rm(dir, { recursive: true, force: true }) };
}
