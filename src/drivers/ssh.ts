// The SSH driver: commands on a server as argument arrays, quoted here and nowhere else, so no
// manifest value is ever read by a shell as syntax (Kamal's habit); files written atomically over SFTP;
// sudo fed its password on stdin, never on a command line. Every call has a deadline and takes a signal.
import { randomBytes } from "node:crypto";
import { constants } from "node:os";
import { posix } from "node:path";
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { AbortedError, errorMessage, InternalError } from "../errors.js";
import { withDeadline } from "./deadline.js";
import { single, tempPathFor, writeAtomically } from "./sftp-write.js";
import { batchArgv, splitBatch } from "./ssh-batch.js";
import { openConnection } from "./ssh-connect.js";
import { SSH_ERROR, SshError } from "./ssh-errors.js";
import { describeTarget, type SshTarget } from "./ssh-target.js";

export type { SshTarget } from "./ssh-target.js";

export type RunResult = { code: number; stdout: string; stderr: string };

export type RunOptions = {
  sudo?: boolean;
  stdin?: string | Uint8Array;
  /**
   * Default 60 s. On expiry (or abort) the command is sent SIGTERM and its channel closed. OpenSSH
   * refuses signals in a root session (no privilege separation there): as root, the process may run on.
   */
  timeoutMs?: number;
  signal?: AbortSignal;
};

export type WriteFileOptions = {
  /** Default 0o644. */
  mode?: number;
  sudo?: boolean;
  signal?: AbortSignal;
  /** Longest wait for progress (not the whole write); default 60 s. */
  timeoutMs?: number;
};

export type UploadOptions = {
  signal?: AbortSignal;
  /** Default 0o644. */
  mode?: number;
  /** Longest wait for progress (not the whole upload); default 60 s. */
  timeoutMs?: number;
};

export interface SshSession {
  readonly target: SshTarget;
  /** Runs argv on the server, each word quoted here (the only place); never throws for a non-zero exit. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /**
   * Runs every argv at once in one exec channel (one start of the login shell and its rc files),
   * stdin /dev/null, under one deadline: each one's result, in order. Throws only when the batch
   * itself could not run (no sh or mktemp there, the connection lost, the deadline).
   */
  runAll(commands: readonly (readonly string[])[], options?: Omit<RunOptions, "stdin">): Promise<RunResult[]>;
  /** Writes a file atomically over SFTP (temp file + rename), with its mode; sudo when the path needs it is the caller's choice via `sudo` → then via `sudo tee`/`install` with the data on stdin. */
  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void>;
  /** Streams a local readable (e.g. `docker save` output) to a remote path over SFTP. */
  upload(source: NodeJS.ReadableStream, remotePath: string, options?: UploadOptions): Promise<void>;
  close(): void;
}

export const DEFAULT_RUN_TIMEOUT_MS = 60_000;
export const DEFAULT_TRANSFER_IDLE_MS = 60_000;
const DEFAULT_FILE_MODE = 0o644;
const EXIT_STATUS_SIGNAL_BASE = 128;
/** Commands shown in errors are cut here: an argv may carry a whole config file. */
const SHOWN_COMMAND_CHARS = 200;

/**
 * Quotes one word for a POSIX shell: what `run` does to each argv word. Exported for tests.
 * The login shell of the remote user must be POSIX (sh, dash, bash, zsh): sshd hands it the line.
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The line sshd gives the remote shell. A NUL cannot cross it (C strings end there), so it is refused. */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new InternalError("ssh: run needs a command");
  if (argv.some((word) => word.includes("\0")))
    throw new InternalError("ssh: a command word contains a NUL byte");
  return argv.map(shellQuote).join(" ");
}

export async function connectSsh(
  target: SshTarget,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<SshSession> {
  return new Session(target, await openConnection(target, options));
}

class Session implements SshSession {
  readonly #client: Client;
  readonly #destination: string;
  #sftp: Promise<SFTPWrapper> | undefined;
  /** Why the connection ended, once it has. */
  #lost: Error | undefined;
  #sudoPasswordChecked = false;

  constructor(
    readonly target: SshTarget,
    client: Client,
  ) {
    this.#client = client;
    this.#destination = describeTarget(target);
    client.on("error", (error: Error) => {
      this.#lost ??= error;
    });
    client.on("close", () => {
      this.#lost ??= new Error("the connection closed");
    });
  }

  get #isRoot(): boolean {
    return this.target.user === "root";
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.#run(argv, showCommand(argv), options);
  }

  /** `shown` names the command in a timeout or an abort. */
  #run(argv: readonly string[], shown: string, options: RunOptions): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    return withDeadline(
      {
        timeoutMs,
        signal: options.signal,
        timedOut: () =>
          new SshError(
            SSH_ERROR.timeout,
            this.#destination,
            `${shown} on ${this.#destination} did not finish within ${timeoutMs} ms (sent SIGTERM)`,
          ),
        aborted: (reason) => this.#aborted(shown, reason),
      },
      (signal) =>
        options.sudo && !this.#isRoot
          ? this.#sudo(argv, options.stdin, signal)
          : this.#exec(argv, options.stdin, signal),
    );
  }

  async runAll(
    commands: readonly (readonly string[])[],
    options: Omit<RunOptions, "stdin"> = {},
  ): Promise<RunResult[]> {
    if (commands.length === 0) return [];
    const boundary = randomBytes(16).toString("hex");
    const shown = `the batch ${commands.map((argv) => showCommand(argv)).join(", ")}`;
    const batch = await this.#run(batchArgv(commands, boundary), shown, options);
    const results = splitBatch(batch, boundary, commands.length);
    if (!results)
      throw new SshError(
        SSH_ERROR.channelFailed,
        this.#destination,
        `cannot run ${commands.length} checks at once on ${this.#destination} (sh exited ${batch.code}): ` +
          `${(batch.stderr || batch.stdout).trim().slice(0, 400)}`,
      );
    return results;
  }

  /**
   * `sudo -n` first: only when sudo says it needs a password is it run with `-S` and the password as
   * stdin's first line. Written to a sudo that needs none (NOPASSWD, or a rule for this one command),
   * the password would be the command's stdin. `-k` makes sudo ask even with cached credentials.
   */
  async #sudo(
    argv: readonly string[],
    stdin: string | Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const first = await this.#exec(["sudo", "-n", "--", ...argv], stdin, signal);
    this.#assertSudoPresent(first);
    if (!wantsPassword(first)) return first;
    const { password } = this.target;
    if (password === undefined)
      throw new SshError(
        SSH_ERROR.sudoFailed,
        this.#destination,
        `sudo on ${this.#destination} wants a password for ${showCommand(argv)} and none is configured: ` +
          `give the user's password, or allow it passwordless sudo (a NOPASSWD rule in /etc/sudoers.d)`,
      );
    if (!this.#sudoPasswordChecked) {
      // A wrong password would make sudo read the caller's stdin as its next tries: check it alone first.
      const check = await this.#exec(["sudo", "-k", "-S", "-p", "", "--", "true"], `${password}\n`, signal);
      if (check.code !== 0)
        throw new SshError(
          SSH_ERROR.sudoFailed,
          this.#destination,
          `sudo on ${this.#destination} refused the password of ${this.target.user}: ${check.stderr.trim()}`,
        );
      this.#sudoPasswordChecked = true;
    }
    const input = Buffer.concat([Buffer.from(`${password}\n`), toBuffer(stdin ?? "")]);
    return this.#exec(["sudo", "-k", "-S", "-p", "", "--", ...argv], input, signal);
  }

  #assertSudoPresent(result: RunResult): void {
    if (result.code === 127 && /sudo.*not found/.test(result.stderr))
      throw new SshError(
        SSH_ERROR.sudoFailed,
        this.#destination,
        `sudo is not installed on ${this.#destination}: install it (apt-get install sudo) or log in as root`,
      );
  }

  #exec(
    argv: readonly string[],
    stdin: string | Uint8Array | undefined,
    signal: AbortSignal,
  ): Promise<RunResult> {
    const line = commandLine(argv);
    return new Promise((resolve, reject) => {
      if (this.#lost) return reject(this.#connectionLost(argv));
      this.#client.exec(line, (error, channel) => {
        if (error) {
          reject(
            new SshError(
              SSH_ERROR.channelFailed,
              this.#destination,
              `cannot start ${showCommand(argv)} on ${this.#destination}: ${error.message}`,
              { cause: error },
            ),
          );
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let code: number | undefined;
        const stop = () => {
          // The remote process outlives a closed channel unless told; sudo relays the TERM to its child.
          sendSignal(channel, "TERM");
          channel.close();
        };
        if (signal.aborted) stop();
        else signal.addEventListener("abort", stop, { once: true });
        channel.on("data", (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
        channel.on("exit", (exitCode: number | null, signalName?: string) => {
          code = exitCode ?? EXIT_STATUS_SIGNAL_BASE + signalNumber(signalName);
        });
        channel.on("close", () => {
          signal.removeEventListener("abort", stop);
          if (code === undefined) reject(this.#connectionLost(argv));
          else
            resolve({
              code,
              stdout: Buffer.concat(stdout).toString("utf8"),
              stderr: Buffer.concat(stderr).toString("utf8"),
            });
        });
        channel.end(stdin === undefined ? undefined : toBuffer(stdin));
      });
    });
  }

  async writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const mode = options.mode ?? DEFAULT_FILE_MODE;
    if (options.sudo && !this.#isRoot) return this.#writeFileWithSudo(path, data, mode, options);
    await this.#transfer(`write ${path}`, path, options, (sftp, progressed) =>
      writeAtomically(sftp, path, single(data), mode, progressed),
    );
  }

  /** install(1) reads the data from stdin into a temp file with the mode; mv -T renames it into place. */
  async #writeFileWithSudo(
    path: string,
    data: string | Uint8Array,
    mode: number,
    options: WriteFileOptions,
  ): Promise<void> {
    const temp = tempPathFor(path);
    const runOptions: RunOptions = {
      sudo: true,
      timeoutMs: options.timeoutMs ?? DEFAULT_TRANSFER_IDLE_MS,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const steps = [
      { argv: ["install", "-m", mode.toString(8).padStart(4, "0"), "-T", "/dev/stdin", temp], stdin: data },
      { argv: ["mv", "-f", "-T", "--", temp, path] },
    ];
    for (const step of steps) {
      const result = await this.run(step.argv, {
        ...runOptions,
        ...(step.stdin === undefined ? {} : { stdin: step.stdin }),
      });
      if (result.code !== 0) {
        await this.run(["rm", "-f", "--", temp], runOptions).catch(() => undefined);
        throw new SshError(
          SSH_ERROR.transferFailed,
          this.#destination,
          `cannot write ${path} on ${this.#destination} with sudo: ${step.argv[0]} exited ${result.code}: ${result.stderr.trim()}`,
        );
      }
    }
  }

  async upload(
    source: NodeJS.ReadableStream,
    remotePath: string,
    options: UploadOptions = {},
  ): Promise<void> {
    const mode = options.mode ?? DEFAULT_FILE_MODE;
    await this.#transfer(`upload to ${remotePath}`, remotePath, options, (sftp, progressed, signal) => {
      // The source is ours to end once the upload is abandoned: a stalled one would hold the loop.
      signal.addEventListener("abort", () => destroy(source), { once: true });
      return writeAtomically(
        sftp,
        remotePath,
        source as AsyncIterable<Uint8Array | string>,
        mode,
        progressed,
      );
    });
  }

  /** An SFTP transfer under an idle deadline: each write that lands restarts its timer. */
  async #transfer(
    doing: string,
    path: string,
    options: { signal?: AbortSignal; timeoutMs?: number },
    transfer: (sftp: SFTPWrapper, progressed: () => void, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TRANSFER_IDLE_MS;
    try {
      await withDeadline(
        {
          timeoutMs,
          signal: options.signal,
          timedOut: () =>
            new SshError(
              SSH_ERROR.timeout,
              this.#destination,
              `${doing} on ${this.#destination} made no progress for ${timeoutMs} ms`,
            ),
          aborted: (reason) => this.#aborted(doing, reason),
        },
        async (signal, progressed) => transfer(await this.#sftpChannel(), progressed, signal),
      );
    } catch (error) {
      if (error instanceof SshError || error instanceof AbortedError) throw error;
      const denied = (error as { code?: unknown }).code === 3;
      throw new SshError(
        SSH_ERROR.transferFailed,
        this.#destination,
        `cannot ${doing} on ${this.#destination}: ${errorMessage(error)}` +
          (denied ? ` (the user ${this.target.user} may not write ${posix.dirname(path)}: pass sudo)` : ""),
        { cause: error },
      );
    }
  }

  #sftpChannel(): Promise<SFTPWrapper> {
    this.#sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.#client.sftp((error, sftp) => {
        if (error) {
          this.#sftp = undefined;
          reject(
            new SshError(
              SSH_ERROR.channelFailed,
              this.#destination,
              `cannot open SFTP on ${this.#destination}: ${error.message} (is its sftp subsystem enabled?)`,
              { cause: error },
            ),
          );
        } else {
          sftp.on("close", () => {
            this.#sftp = undefined;
          });
          resolve(sftp);
        }
      });
    });
    return this.#sftp;
  }

  #connectionLost(argv: readonly string[]): SshError {
    return new SshError(
      SSH_ERROR.unreachable,
      this.#destination,
      `lost the connection to ${this.#destination} while running ${showCommand(argv)}` +
        (this.#lost ? `: ${this.#lost.message}` : ""),
      { cause: this.#lost },
    );
  }

  #aborted(doing: string, reason: unknown): AbortedError {
    return new AbortedError(`${doing} on ${this.#destination} was aborted: ${errorMessage(reason)}`, {
      cause: reason,
    });
  }

  close(): void {
    this.#client.end();
  }
}

/** sudo -n's refusal: it ran nothing and asks for a password. */
function wantsPassword(result: RunResult): boolean {
  return result.code === 1 && result.stdout === "" && /sudo: a password is required/.test(result.stderr);
}

function showCommand(argv: readonly string[]): string {
  const line = argv.join(" ");
  return `\`${line.length > SHOWN_COMMAND_CHARS ? `${line.slice(0, SHOWN_COMMAND_CHARS)}…` : line}\``;
}

function signalNumber(name: string | undefined): number {
  const signals = constants.signals as Record<string, number | undefined>;
  return (name && signals[`SIG${name}`]) || 0;
}

/** ssh2's internals a signal request needs; see sendSignal. */
type ChannelInternals = {
  outgoing?: { id?: unknown; state?: unknown };
  _client?: { _protocol?: { signal?: (channel: number, signal: string) => void } };
};

/**
 * ssh2's `channel.signal()` sends nothing once the channel's stdin has ended, which `run` always does
 * (a command reading stdin must see EOF), so the request goes through the same protocol call directly.
 */
function sendSignal(channel: ClientChannel, signal: string): void {
  const { outgoing, _client: client } = channel as unknown as ChannelInternals;
  const protocol = client?._protocol;
  // "eof": our stdin has ended, the channel is still open.
  const open = outgoing?.state === "open" || outgoing?.state === "eof";
  if (open && typeof outgoing?.id === "number" && typeof protocol?.signal === "function")
    protocol.signal(outgoing.id, signal);
}

function toBuffer(data: string | Uint8Array): Buffer {
  return typeof data === "string"
    ? Buffer.from(data)
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function destroy(source: NodeJS.ReadableStream): void {
  const destroyable = source as NodeJS.ReadableStream & { destroy?: (error?: Error) => void };
  destroyable.destroy?.();
}
