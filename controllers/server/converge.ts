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
  SYSTEM_READS,
  systemStep,
} from "./steps.js";

/** A round of checks is reads only (Docker's CLI the slowest): this is long for one. */
const CHECK_ROUND_MS = 20_000;

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
    const checks = Object.values(checkReads(server, options.image, options.bundle));
    const round = { timeoutMs: CHECK_ROUND_MS, ...(options.signal ? { signal: options.signal } : {}) };
    // One round: system's reads and every step's check. As root (the usual login) that is all a
    // server already as built costs; the checks' answers are used only then.
    const first = await session.runAll([...SYSTEM_READS, ...checks], round);
    const { facts, result } = await systemStep(context, first.slice(0, SYSTEM_READS.length));
    done(result);
    current = "docker";
    // As another user the checks are sudo's (Docker's socket and the node's files are root's).
    const answers = facts.root
      ? first.slice(SYSTEM_READS.length)
      : await session.runAll(checks, { ...round, sudo: true });
    const checked = { ...context, session: answering(session, checks, answers, !facts.root) };
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
 * The session with the checks' answers already in hand: each step's first run of its check gets its
 * answer; any later run (a check again after an action) goes to the server.
 */
function answering(
  session: RemoteSession,
  checks: readonly (readonly string[])[],
  answers: readonly RunResult[],
  sudo: boolean,
): RemoteSession {
  const key = (argv: readonly string[], asSudo: boolean) => `${asSudo}\0${argv.join("\0")}`;
  const held = new Map(checks.map((argv, i) => [key(argv, sudo), answers[i]] as const));
  return {
    async run(argv, runOptions) {
      const k = key(argv, runOptions?.sudo === true);
      const answer = runOptions?.stdin === undefined ? held.get(k) : undefined;
      if (!answer) return session.run(argv, runOptions);
      held.delete(k);
      return answer;
    },
    runAll: (commands, runOptions) => session.runAll(commands, runOptions),
    writeFile: (path, data, writeOptions) => session.writeFile(path, data, writeOptions),
    upload: (source, remotePath, uploadOptions) => session.upload(source, remotePath, uploadOptions),
    close: () => session.close(),
  };
}
