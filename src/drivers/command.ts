// Runs a host tool (nft, ipvsadm) as an argument array — never a shell string — with a deadline,
// input on stdin, and a failure that names the command and what it printed.
import { spawn } from "node:child_process";
import { TreescaleError } from "../errors.js";

export class CommandError extends TreescaleError {
  readonly command: string;
  constructor(code: string, command: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.command = command;
  }
}

export type RunOptions = { input?: string; timeoutMs?: number; signal?: AbortSignal };

/** Resolves with stdout; rejects with a CommandError when the tool is missing, fails or overruns. */
export function runCommand(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const shown = [file, ...args].join(" ");
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === "ENOENT"
          ? new CommandError(
              "COMMAND_MISSING",
              shown,
              `${file} is not installed (apt-get install ${file === "nft" ? "nftables" : file})`,
              { cause: error },
            )
          : new CommandError("COMMAND_FAILED", shown, `${shown}: ${error.message}`, { cause: error }),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else if (signal === "SIGKILL" && !options.signal?.aborted)
        reject(new CommandError("COMMAND_TIMEOUT", shown, `${shown} did not finish within ${timeoutMs} ms`));
      else
        reject(
          new CommandError(
            "COMMAND_FAILED",
            shown,
            `${shown} failed (exit ${code ?? signal}): ${stderr.trim() || stdout.trim()}`,
          ),
        );
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}
