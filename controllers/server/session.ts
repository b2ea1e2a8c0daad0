// What the server kind needs of the outside, as narrow doors the composition root fills in: a shell
// session on a server (SSH), and the node image on this machine. Unit tests pass fakes of these.

export type RunResult = { code: number; stdout: string; stderr: string };

export interface RemoteSession {
  /** Runs argv on the server (each word quoted by the session, never by callers); a non-zero exit is a result, not an error. */
  run(
    argv: readonly string[],
    options?: { sudo?: boolean; stdin?: string | Uint8Array; timeoutMs?: number; signal?: AbortSignal },
  ): Promise<RunResult>;
  /**
   * Runs every argv at once in one round (one exec on the server), stdin empty: each one's result in
   * order. A round of checks costs one start of the remote login shell, not one per check.
   */
  runAll(
    commands: readonly (readonly string[])[],
    options?: { sudo?: boolean; timeoutMs?: number; signal?: AbortSignal },
  ): Promise<RunResult[]>;
  writeFile(
    path: string,
    data: string | Uint8Array,
    options?: { mode?: number; sudo?: boolean; signal?: AbortSignal },
  ): Promise<void>;
  upload(
    source: NodeJS.ReadableStream,
    remotePath: string,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
  close(): void;
}

/** The node image as this machine has it: its tag, its ID, and its bytes (`docker save`). */
export interface ImageSource {
  readonly tag: string;
  id(): Promise<string>;
  save(): NodeJS.ReadableStream;
}
