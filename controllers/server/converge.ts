// One server brought to a running node, step after step: connect, system, docker, image, config,
// node. A step that fails ends that server's build with the step named; the others go on.
import { errorMessage } from "../../src/errors.js";
import type { ImageSource, RemoteSession, RunResult } from "./session.js";
import {
  checkReads,
  configStep,
  dockerStep,
  imageStep,
  type NodeBundle,
  nodeStep,
  type StepName,
  type StepResult,
  systemStep,
} from "./steps.js";

export type ServerReport =
  | { server: string; ok: true; steps: StepResult[] }
  | { server: string; ok: false; steps: StepResult[]; failedStep: StepName | "connect"; error: string };

export type ConvergeOptions = {
  server: string;
  connect(): Promise<RemoteSession>;
  image: ImageSource;
  bundle: NodeBundle;
  dryRun: boolean;
  signal?: AbortSignal;
  /** Each step as it ends, and what an action is doing while it runs. */
  onStep(server: string, result: StepResult): void;
  onActivity(server: string, step: StepName, what: string): void;
};

export async function convergeServer(options: ConvergeOptions): Promise<ServerReport> {
  const { server } = options;
  const steps: StepResult[] = [];
  let session: RemoteSession;
  try {
    session = await options.connect();
  } catch (error) {
    return { server, ok: false, steps, failedStep: "connect", error: errorMessage(error) };
  }
  const context = {
    session,
    image: options.image,
    bundle: options.bundle,
    dryRun: options.dryRun,
    ...(options.signal ? { signal: options.signal } : {}),
    acting: (step: StepName, what: string) => options.onActivity(server, step, what),
  };
  const done = (result: StepResult) => {
    steps.push(result);
    options.onStep(server, result);
  };
  let current: StepName = "system";
  try {
    const { facts, result } = await systemStep(context);
    done(result);
    const reads = Object.values(checkReads(server, options.image, options.bundle));
    const checked = { ...context, session: prefetching(session, reads, !facts.root, options.signal) };
    for (const [name, step] of [
      ["docker", dockerStep],
      ["image", imageStep],
      ["config", configStep],
      ["node", nodeStep],
    ] as const) {
      current = name;
      const result = await step(checked, facts);
      done(result);
      // Without Docker, nothing after it can be checked: a dry run says what it would do and stops.
      if (name === "docker" && result.result === "would-change") break;
    }
    return { server, ok: true, steps };
  } catch (error) {
    return { server, ok: false, steps, failedStep: current, error: errorMessage(error) };
  } finally {
    session.close();
  }
}

/**
 * The session with the steps' first reads already sent, all at once: each step's first run of one
 * of them gets its answer; any later run (a check again after an action) goes to the server again.
 */
function prefetching(
  session: RemoteSession,
  reads: readonly (readonly string[])[],
  sudo: boolean,
  signal: AbortSignal | undefined,
): RemoteSession {
  const key = (argv: readonly string[], asSudo: boolean) => `${asSudo}\0${argv.join("\0")}`;
  const pending = new Map<string, Promise<RunResult>>();
  for (const argv of reads) {
    const answer = session.run(argv, { sudo, timeoutMs: 20_000, ...(signal ? { signal } : {}) });
    // An answer no step asks for (a dry run stops early) must not be an unhandled rejection.
    answer.catch(() => undefined);
    pending.set(key(argv, sudo), answer);
  }
  return {
    run(argv, runOptions) {
      const k = key(argv, runOptions?.sudo === true);
      const answer = runOptions?.stdin === undefined ? pending.get(k) : undefined;
      if (!answer) return session.run(argv, runOptions);
      pending.delete(k);
      return answer;
    },
    writeFile: (path, data, writeOptions) => session.writeFile(path, data, writeOptions),
    upload: (source, remotePath, uploadOptions) => session.upload(source, remotePath, uploadOptions),
    close: () => session.close(),
  };
}
