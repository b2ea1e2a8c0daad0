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

/** A process's exit code and everything it printed, once it has ended. */
export function resultOf(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
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
