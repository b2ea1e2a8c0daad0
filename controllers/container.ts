// The container controller: carries out a container plan through a ContainerEngine.
// Every action ends in an outcome; one failure never stops the rest, and nothing is
// removed for a recreate before the new image is known to be available.
import type { ContainerEngine, PullProgress } from "../src/drivers/engine.js";
import { errorMessage, ImageUnavailableError, TreescaleError } from "../src/errors.js";
import type { ContainerAction, CreateAction, RecreateAction } from "../src/plan/actions.js";
import { runLimited } from "../src/util/run-limited.js";

export type ActionOutcome =
  | { action: ContainerAction; ok: true; containerId?: string; ms: number }
  /** `code` is the stable code of a TreescaleError (e.g. IMAGE_UNAVAILABLE), so callers can tell a lasting failure. */
  | { action: ContainerAction; ok: false; error: string; code?: string; ms: number };

export interface ProgressSink {
  started(action: ContainerAction): void;
  finished(outcome: ActionOutcome): void;
  pulling(progress: PullProgress): void;
}

export type ExecuteOptions = {
  engine: ContainerEngine;
  progress: ProgressSink;
  generation: number;
  concurrency: number;
  stopTimeoutSeconds: number;
};

export async function executeContainerPlan(
  actions: readonly ContainerAction[],
  options: ExecuteOptions,
): Promise<ActionOutcome[]> {
  const imageErrors = await ensureImages(actions, options);
  const phases: ContainerAction["type"][] = ["remove", "recreate", "create", "start"];
  const outcomes: ActionOutcome[] = [];
  for (const phase of phases) {
    const batch = actions.filter((action) => action.type === phase);
    outcomes.push(
      ...(await runLimited(batch, options.concurrency, (action) => runOne(action, imageErrors, options))),
    );
  }
  return outcomes;
}

async function runOne(
  action: ContainerAction,
  imageErrors: ReadonlyMap<string, Error>,
  options: ExecuteOptions,
): Promise<ActionOutcome> {
  const began = performance.now();
  options.progress.started(action);
  let outcome: ActionOutcome;
  try {
    const containerId = await perform(action, imageErrors, options);
    outcome =
      containerId === undefined
        ? { action, ok: true, ms: performance.now() - began }
        : { action, ok: true, containerId, ms: performance.now() - began };
  } catch (error) {
    const code = error instanceof TreescaleError ? { code: error.code } : {};
    outcome = { action, ok: false, error: errorMessage(error), ...code, ms: performance.now() - began };
  }
  options.progress.finished(outcome);
  return outcome;
}

async function perform(
  action: ContainerAction,
  imageErrors: ReadonlyMap<string, Error>,
  { engine, generation, stopTimeoutSeconds }: ExecuteOptions,
): Promise<string | undefined> {
  switch (action.type) {
    case "remove":
      await engine.remove(action.containerId, stopTimeoutSeconds);
      return undefined;
    case "start":
      await engine.start(action.containerId);
      return action.containerId;
    case "recreate": {
      const imageError = imageErrors.get(action.spec.image);
      if (imageError) {
        const message = `${imageError.message} (the existing container was left running)`;
        throw imageError instanceof ImageUnavailableError
          ? new ImageUnavailableError(imageError.image, message, { cause: imageError })
          : new Error(message, { cause: imageError });
      }
      if (action.spec.update.order === "start-first")
        return startFirst(action, generation, engine, stopTimeoutSeconds);
      await engine.remove(action.containerId, stopTimeoutSeconds);
      return createAndStart(action, generation, engine);
    }
    case "create": {
      const imageError = imageErrors.get(action.spec.image);
      if (imageError) throw imageError;
      return createAndStart(action, generation, engine);
    }
  }
}

/**
 * Start-first: the new container runs beside the old one before the old one goes, then takes its
 * name. If the new one cannot start (a fixed host port, say), it is removed and the old one stays.
 */
async function startFirst(
  action: RecreateAction,
  generation: number,
  engine: ContainerEngine,
  stopTimeoutSeconds: number,
): Promise<string> {
  const id = await create(action, generation, engine, `${action.name}-next`);
  try {
    await engine.start(id);
  } catch (error) {
    await engine.remove(id, 0);
    const hint =
      action.spec.ports.length > 0
        ? ' (a fixed host port cannot be held twice; use order = "stop-first")'
        : "";
    throw new Error(
      `start-first: the new container did not start, the old one keeps running: ${errorMessage(error)}${hint}`,
      {
        cause: error,
      },
    );
  }
  await engine.remove(action.containerId, stopTimeoutSeconds);
  await engine.rename(id, action.name);
  return id;
}

async function createAndStart(
  action: CreateAction | RecreateAction,
  generation: number,
  engine: ContainerEngine,
): Promise<string> {
  const id = await create(action, generation, engine, action.name);
  await engine.start(id);
  return id;
}

function create(
  action: CreateAction | RecreateAction,
  generation: number,
  engine: ContainerEngine,
  name: string,
): Promise<string> {
  return engine.create({
    name,
    node: action.node,
    replica: action.replica,
    spec: action.spec,
    hash: action.hash,
    fieldHashes: action.fieldHashes,
    generation,
  });
}

/** Makes every image the plan needs present, pulling where a registry answers; image → why it is unavailable. */
async function ensureImages(
  actions: readonly ContainerAction[],
  options: ExecuteOptions,
): Promise<Map<string, Error>> {
  const images = new Set<string>();
  for (const action of actions) {
    if (action.type === "create" || action.type === "recreate") images.add(action.spec.image);
  }
  const errors = new Map<string, Error>();
  await runLimited([...images], options.concurrency, async (image) => {
    try {
      if (await options.engine.hasImage(image)) return;
      await options.engine.pullImage(image, (progress) => options.progress.pulling(progress));
    } catch (error) {
      errors.set(image, error instanceof Error ? error : new Error(String(error)));
    }
  });
  return errors;
}
