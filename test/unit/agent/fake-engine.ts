// An in-memory container engine with its event stream, for agent and informer unit tests: it keeps
// containers in a map, announces every change as the engine would, and lets a test crash, stop or
// remove a container, hold an operation, or break the event stream. It passes the same contract
// suite as the Docker driver (test/contract/container-engine.contract.ts), so what a unit test
// learns from it holds against dockerd.
import type {
  ContainerEngine,
  CreateContainerRequest,
  EngineCallOptions,
  EngineEvent,
  EngineEventSource,
  PullProgress,
} from "../../../src/drivers/engine.js";
import { ContainerNameConflictError, EngineRequestError } from "../../../src/drivers/engine-errors.js";
import { AbortedError, ImageUnavailableError } from "../../../src/errors.js";
import { LEGACY_STACK } from "../../../src/model/labels.js";
import type { ObservedContainer } from "../../../src/model/observed.js";
import type { Clock } from "../../../src/util/clock.js";

type Watch = { node: string; onEvent: (event: EngineEvent) => void; onEnd: (error?: unknown) => void };

const NOT_FOUND = 404;

export class FakeEngine implements ContainerEngine, EngineEventSource {
  readonly containers = new Map<string, ObservedContainer>();
  /** Every engine call, in order: "list", "create shop_web_1_n", "start shop_web_1_n", "pull x:1", … */
  readonly calls: string[] = [];
  /** Images the engine lacks; every other image is present, so tests that do not care list none. */
  readonly missingImages = new Set<string>();
  /** Of the missing images, those a pull fetches; pulling any other fails as an unknown image does. */
  readonly pullableImages = new Set<string>();
  readonly #watches = new Set<Watch>();
  #nextId = 0;
  /** While set, create() waits for it: a reconcile held in flight. */
  hold: Promise<void> | undefined;
  /** While set, listOwned() fails with it: the engine stopped answering. */
  listFailure: Error | undefined;
  /** While set, ping() fails with it. */
  pingFailure: Error | undefined;

  constructor(private readonly clock: Clock) {}

  get watchers(): number {
    return this.#watches.size;
  }

  starts(name: string): number {
    return this.calls.filter((call) => call === `start ${name}`).length;
  }

  async ping(options: EngineCallOptions = {}): Promise<void> {
    refuseAborted("ping", options);
    if (this.pingFailure) throw this.pingFailure;
  }

  async listOwned(node: string, options: EngineCallOptions = {}): Promise<ObservedContainer[]> {
    refuseAborted(`list the containers of node "${node}"`, options);
    this.calls.push("list");
    if (this.listFailure) throw this.listFailure;
    return [...this.containers.values()].filter((c) => c.node === node).map((c) => ({ ...c }));
  }

  async hasImage(reference: string, options: EngineCallOptions = {}): Promise<boolean> {
    refuseAborted(`look up image "${reference}"`, options);
    return !this.missingImages.has(reference);
  }

  async pullImage(
    reference: string,
    onProgress: (progress: PullProgress) => void,
    options: EngineCallOptions = {},
  ): Promise<void> {
    refuseAborted(`pull image "${reference}"`, options);
    this.calls.push(`pull ${reference}`);
    if (this.missingImages.has(reference) && !this.pullableImages.has(reference)) {
      throw new ImageUnavailableError(reference, `image "${reference}" could not be pulled: not found`);
    }
    onProgress({ image: reference, status: "Downloaded newer image" });
    this.missingImages.delete(reference);
  }

  async create(request: CreateContainerRequest, options: EngineCallOptions = {}): Promise<string> {
    const operation = `create container "${request.name}"`;
    refuseAborted(operation, options);
    await untilAborted(this.hold, operation, options);
    this.calls.push(`create ${request.name}`);
    if (this.#named(request.name)) {
      throw new ContainerNameConflictError(request.name, `cannot ${operation}: the name is taken`);
    }
    if (this.missingImages.has(request.spec.image)) {
      throw new ImageUnavailableError(request.spec.image, `cannot ${operation}: no such image`);
    }
    const id = `c${++this.#nextId}`;
    this.containers.set(id, {
      id,
      name: request.name,
      node: request.node,
      stack: request.stack,
      resource: request.spec.name,
      replica: request.replica,
      hash: request.hash,
      fieldHashes: { ...request.fieldHashes },
      image: request.spec.image,
      state: "created",
      createdAt: new Date(this.clock.now()).toISOString(),
      restarts: null,
    });
    this.#emit(id, "create");
    return id;
  }

  async start(id: string, options: EngineCallOptions = {}): Promise<void> {
    refuseAborted(`start container ${id}`, options);
    const container = this.#get(id, "start");
    this.calls.push(`start ${container.name}`);
    container.state = "running";
    this.#emit(id, "start");
  }

  async rename(id: string, name: string, options: EngineCallOptions = {}): Promise<void> {
    refuseAborted(`rename container ${id} to "${name}"`, options);
    const container = this.#get(id, "rename");
    const holder = this.#named(name);
    if (holder && holder !== container) {
      throw new ContainerNameConflictError(
        name,
        `cannot rename container ${id} to "${name}": the name is taken`,
      );
    }
    this.calls.push(`rename ${container.name} ${name}`);
    container.name = name;
    this.#emit(id, "rename");
  }

  /** The grace period is not waited out: the fake's containers stop at once. */
  async remove(id: string, _stopTimeoutSeconds = 0, options: EngineCallOptions = {}): Promise<void> {
    refuseAborted(`remove container ${id}`, options);
    const container = this.containers.get(id);
    if (!container) return;
    this.calls.push(`remove ${container.name}`);
    this.#emit(id, "destroy");
    this.containers.delete(id);
  }

  /** The container's process ended by itself (or someone ran `docker stop`). */
  exit(name: string): void {
    const container = this.byName(name);
    container.state = "exited";
    this.#emit(container.id, "die");
  }

  byName(name: string): ObservedContainer {
    const found = this.#named(name);
    if (!found) throw new Error(`no container ${name}`);
    return found;
  }

  watchEvents(node: string, onEvent: Watch["onEvent"], onEnd: Watch["onEnd"]): () => void {
    const watch = { node, onEvent, onEnd };
    this.#watches.add(watch);
    return () => this.#watches.delete(watch);
  }

  /**
   * Emits an event for a container that need not exist (a burst, a stranger's change). Without a
   * stack it carries the container's, or LEGACY_STACK for an unknown id.
   */
  emit(event: Omit<EngineEvent, "stack"> & { stack?: string }): void {
    const stack = event.stack ?? this.containers.get(event.containerId)?.stack ?? LEGACY_STACK;
    for (const watch of this.#watches) watch.onEvent({ ...event, stack });
  }

  /** The event stream breaks: every watcher is told once and dropped. */
  breakStream(error = new Error("connection reset")): void {
    for (const watch of [...this.#watches]) {
      this.#watches.delete(watch);
      watch.onEnd(error);
    }
  }

  #named(name: string): ObservedContainer | undefined {
    return [...this.containers.values()].find((c) => c.name === name);
  }

  /** A container that is gone fails as Docker's 404 does. */
  #get(id: string, doing: string): ObservedContainer {
    const container = this.containers.get(id);
    if (!container) {
      throw new EngineRequestError(`cannot ${doing} container ${id}: no such container`, NOT_FOUND);
    }
    return container;
  }

  #emit(id: string, action: string): void {
    const container = this.containers.get(id);
    if (!container) return;
    for (const watch of this.#watches) {
      if (watch.node === container.node) {
        watch.onEvent({
          containerId: id,
          stack: container.stack,
          resource: container.resource,
          action,
          time: this.clock.now(),
        });
      }
    }
  }
}

function refuseAborted(operation: string, { signal }: EngineCallOptions): void {
  if (signal?.aborted) throw aborted(operation, signal.reason);
}

function aborted(operation: string, reason: unknown): AbortedError {
  return new AbortedError(`${operation} was cancelled before it finished`, { cause: reason });
}

/** Waits for `held` (a test holding the call in flight), or rejects at once when the signal aborts. */
async function untilAborted(
  held: Promise<void> | undefined,
  operation: string,
  { signal }: EngineCallOptions,
): Promise<void> {
  if (held === undefined) return;
  if (signal === undefined) return held;
  let onAbort: () => void = () => undefined;
  const abort = new Promise<never>((_, reject) => {
    onAbort = () => reject(aborted(operation, signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([held, abort]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
