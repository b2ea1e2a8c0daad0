// Carries out a container plan through a ContainerEngine. Every action ends in an outcome; one
// failure never stops the rest, and nothing is removed for a recreate before the new image is
// known to be available. Recreates follow the resource's update policy (see rollout.ts).
import type { ContainerEngine, CreateContainerRequest } from "../../src/drivers/engine.js";
import { errorMessage, ImageUnavailableError, TreescaleError } from "../../src/errors.js";
import type {
  Disposition,
  ExecuteContext,
  Outcome,
  TreeImageSource,
} from "../../src/reconcile/controller.js";
import { runAction } from "../../src/reconcile/outcome.js";
import { runLimited } from "../../src/util/run-limited.js";
import type { ContainerAction, CreateAction, RecreateAction } from "./actions.js";
import { type ClaimNameOptions, createClaimingName, renameClaimingName } from "./claim-name.js";
import { recreateInWaves } from "./rollout.js";

export type ContainerDrivers = {
  engine: ContainerEngine;
  /** Actions in flight at once. */
  concurrency: number;
  stopTimeoutSeconds: number;
  /** Where images of containers with `image_source = "tree"` come from; absent on a node outside a tree. */
  treeImages?: TreeImageSource;
};

export type ContainerOutcome = Outcome<ContainerAction>;

export async function executeContainerPlan(
  actions: readonly ContainerAction[],
  context: ExecuteContext<ContainerAction>,
  drivers: ContainerDrivers,
): Promise<ContainerOutcome[]> {
  const imageErrors = await ensureImages(actions, context, drivers);
  const run = (action: ContainerAction) => runOne(action, imageErrors, context, drivers);
  const outcomes: ContainerOutcome[] = [];
  const inPhase = (type: ContainerAction["type"]) => actions.filter((action) => action.type === type);
  outcomes.push(...(await runLimited(inPhase("remove"), drivers.concurrency, run)));
  outcomes.push(
    ...(await recreateInWaves(inPhase("recreate") as RecreateAction[], {
      run: (action) => run(action) as Promise<Outcome<RecreateAction>>,
      engine: drivers.engine,
      node: context.node,
      previous: context.previous,
      signal: context.signal,
      concurrency: drivers.concurrency,
    })),
  );
  outcomes.push(...(await runLimited(inPhase("create"), drivers.concurrency, run)));
  outcomes.push(...(await runLimited(inPhase("start"), drivers.concurrency, run)));
  return outcomes;
}

async function runOne(
  action: ContainerAction,
  imageErrors: ReadonlyMap<string, Error>,
  context: ExecuteContext<ContainerAction>,
  drivers: ContainerDrivers,
): Promise<ContainerOutcome> {
  return runAction(
    action,
    context.progress,
    () => perform(action, imageErrors, context, drivers),
    failureKind,
    context.signal,
  );
}

async function perform(
  action: ContainerAction,
  imageErrors: ReadonlyMap<string, Error>,
  context: ExecuteContext<ContainerAction>,
  { engine, stopTimeoutSeconds }: ContainerDrivers,
): Promise<void> {
  const { signal } = context;
  switch (action.type) {
    case "remove":
      await released(context, action.containerId, () =>
        engine.remove(action.containerId, stopTimeoutSeconds, { signal }),
      );
      return;
    case "start":
      await engine.start(action.containerId, { signal });
      return;
    case "recreate": {
      const imageError = imageErrors.get(action.spec.image);
      if (imageError) {
        const message = `${imageError.message} (the existing container was left running)`;
        throw imageError instanceof ImageUnavailableError
          ? new ImageUnavailableError(imageError.image, message, { cause: imageError })
          : new TreescaleError(
              imageError instanceof TreescaleError ? imageError.code : "IMAGE_CHECK_FAILED",
              message,
              { cause: imageError },
            );
      }
      if (action.spec.update.order === "start-first") {
        await startFirst(action, context, engine, stopTimeoutSeconds);
        return;
      }
      await released(context, action.containerId, () =>
        engine.remove(action.containerId, stopTimeoutSeconds, { signal }),
      );
      await createAndStart(action, context, engine, stopTimeoutSeconds);
      return;
    }
    case "create": {
      const imageError = imageErrors.get(action.spec.image);
      if (imageError) throw imageError;
      await createAndStart(action, context, engine, stopTimeoutSeconds);
      return;
    }
  }
}

/** A missing image does not come by retrying; an engine that does not answer is retried, Stalled meanwhile. */
function failureKind(error: unknown): { code?: string; disposition?: Disposition } {
  if (!(error instanceof TreescaleError)) return {};
  if (error.code === "IMAGE_UNAVAILABLE") return { code: error.code, disposition: "terminal" };
  if (error.code.startsWith("ENGINE_")) return { code: error.code, disposition: "stalled" };
  return { code: error.code };
}

/**
 * Start-first: the new container runs beside the old one before the old one goes, then takes its
 * name. If the new one cannot start (a fixed host port, say), it is removed and the old one stays.
 */
async function startFirst(
  action: RecreateAction,
  context: ExecuteContext<ContainerAction>,
  engine: ContainerEngine,
  stopTimeoutSeconds: number,
): Promise<void> {
  const { signal } = context;
  const id = await create(action, context, engine, stopTimeoutSeconds, `${action.name}-next`);
  try {
    await engine.start(id, { signal });
  } catch (error) {
    await engine.remove(id, 0);
    const hint =
      action.spec.ports.length > 0
        ? ' (a fixed host port cannot be held twice; use order = "stop-first")'
        : "";
    throw new TreescaleError(
      "START_FIRST_FAILED",
      `start-first: the new container did not start, the old one keeps running: ${errorMessage(error)}${hint}`,
      { cause: error },
    );
  }
  await released(context, action.containerId, () =>
    engine.remove(action.containerId, stopTimeoutSeconds, { signal }),
  );
  await renameClaimingName(
    id,
    request(action, context, action.name),
    claimOptions(action, context, engine, stopTimeoutSeconds),
  );
}

/**
 * Stops a container only once the kinds that send it work (a balancer) have let go of it, so the
 * connections it holds end before it does; if it is not stopped after all, it is theirs again.
 */
async function released(
  context: ExecuteContext<ContainerAction>,
  containerId: string,
  stop: () => Promise<void>,
): Promise<void> {
  const readmit = await context.release([containerId]);
  try {
    await stop();
  } catch (error) {
    readmit();
    throw error;
  }
}

async function createAndStart(
  action: CreateAction | RecreateAction,
  context: ExecuteContext<ContainerAction>,
  engine: ContainerEngine,
  stopTimeoutSeconds: number,
): Promise<void> {
  const id = await create(action, context, engine, stopTimeoutSeconds, action.name);
  await engine.start(id, { signal: context.signal });
}

/** Creates under `name`; a container of ours for this replica that holds the name is waited for, adopted or replaced. */
function create(
  action: CreateAction | RecreateAction,
  context: ExecuteContext<ContainerAction>,
  engine: ContainerEngine,
  stopTimeoutSeconds: number,
  name: string,
): Promise<string> {
  return createClaimingName(
    request(action, context, name),
    claimOptions(action, context, engine, stopTimeoutSeconds),
  );
}

function request(
  action: CreateAction | RecreateAction,
  context: ExecuteContext<ContainerAction>,
  name: string,
): CreateContainerRequest {
  return {
    name,
    node: action.node,
    stack: action.stack,
    replica: action.replica,
    spec: action.spec,
    hash: action.hash,
    fieldHashes: action.fieldHashes,
    generation: context.generation,
  };
}

function claimOptions(
  action: CreateAction | RecreateAction,
  context: ExecuteContext<ContainerAction>,
  engine: ContainerEngine,
  stopTimeoutSeconds: number,
): ClaimNameOptions {
  const { signal } = context;
  return {
    engine,
    signal,
    stopTimeoutSeconds,
    ...(action.type === "recreate" ? { replacing: action.containerId } : {}),
    removeHolder: (id) => released(context, id, () => engine.remove(id, stopTimeoutSeconds, { signal })),
  };
}

/**
 * Makes every image the plan needs present: from the tree for containers with `image_source = "tree"`,
 * else pulled where a registry answers; image → why it is unavailable.
 */
async function ensureImages(
  actions: readonly ContainerAction[],
  context: ExecuteContext<ContainerAction>,
  { engine, concurrency, treeImages }: ContainerDrivers,
): Promise<Map<string, Error>> {
  const images = new Set<string>();
  const fromTree = new Set<string>();
  for (const action of actions) {
    if (action.type !== "create" && action.type !== "recreate") continue;
    images.add(action.spec.image);
    const source = action.spec.imageSource ?? (treeImages?.byDefault ? "tree" : "registry");
    if (source === "tree") fromTree.add(action.spec.image);
  }
  const errors = new Map<string, Error>();
  await runLimited([...images], concurrency, async (image) => {
    try {
      if (await engine.hasImage(image)) return;
      if (fromTree.has(image)) {
        await fetchFromTree(image, context, treeImages);
        if (await engine.hasImage(image)) return;
        throw new ImageUnavailableError(
          image,
          `image "${image}" came from the tree but the engine does not list it`,
        );
      }
      await engine.pullImage(
        image,
        (progress) => {
          const amount = progress.total
            ? ` ${Math.round(((progress.current ?? 0) / progress.total) * 100)}%`
            : "";
          context.progress.activity(`pulling ${progress.image}: ${progress.status}${amount}`);
        },
        { signal: context.signal },
      );
    } catch (error) {
      errors.set(
        image,
        error instanceof Error ? error : new TreescaleError("IMAGE_CHECK_FAILED", String(error)),
      );
    }
  });
  return errors;
}

async function fetchFromTree(
  image: string,
  context: ExecuteContext<ContainerAction>,
  treeImages: TreeImageSource | undefined,
): Promise<void> {
  if (!treeImages)
    throw new ImageUnavailableError(
      image,
      `image "${image}" has image_source = "tree", but node ${context.node} runs without the tree's image service`,
    );
  context.progress.activity(`fetching ${image} from the tree`);
  try {
    await treeImages.fetch(image);
  } catch (error) {
    throw new ImageUnavailableError(
      image,
      `image "${image}" could not be fetched from the tree: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}
