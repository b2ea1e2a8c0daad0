// One server brought to a running node, step after step: connect, system, docker, image, config,
// node. A step that fails ends that server's build with the step named; the others go on.
import { errorMessage } from "../../src/errors.js";
import type { ImageSource, RemoteSession } from "./session.js";
import {
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
    for (const [name, step] of [
      ["docker", dockerStep],
      ["image", imageStep],
      ["config", configStep],
      ["node", nodeStep],
    ] as const) {
      current = name;
      const result = await step(context, facts);
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
