// A `treescale node` run as its own process, the way a server runs it: started on port 0 and
// known by the address it prints once listening; stopped with SIGKILL, as a crash would.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export type NodeProcess = {
  name: string;
  url: string;
  port: number;
  process: ChildProcess;
  /** Every line the node wrote to stderr so far: its log, and the reason when it fails. */
  stderr: string[];
};

/** Starts `cli node --name NAME --listen 127.0.0.1:0 ...args`; resolves once it listens. */
export async function startNodeProcess(
  cli: string,
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [cli, "node", "--name", name, "--listen", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${name} did not start:\n${stderr.join("\n")}`)),
        15_000,
      );
      child.once("exit", (code) => reject(new Error(`node ${name} exited ${code}:\n${stderr.join("\n")}`)));
      createInterface({ input: child.stdout! }).once("line", (first) => {
        clearTimeout(timer);
        resolve(first);
      });
    });
    const url = (JSON.parse(line) as { listen: string }).listen;
    return { name, url, port: Number(url.split(":").pop()), process: child, stderr };
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
}

export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGCONT");
    child.kill("SIGKILL");
  });
}
