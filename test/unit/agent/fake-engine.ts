// An in-memory container engine with its event stream, for agent and informer unit tests: it keeps
// containers in a map, announces every change as the engine would, and lets a test crash, stop or
// remove a container, hold an operation, or break the event stream.
import type {
  ContainerEngine,
  CreateContainerRequest,
  EngineEvent,
  EngineEventSource,
} from "../../../src/drivers/engine.js";
import type { ObservedContainer } from "../../../src/model/observed.js";
import type { Clock } from "../../../src/util/clock.js";

type Watch = { node: string; onEvent: (event: EngineEvent) => void; onEnd: (error?: unknown) => void };

export class FakeEngine implements ContainerEngine, EngineEventSource {
  readonly containers = new Map<string, ObservedContainer>();
  /** Every engine call, in order: "list", "create n-web-1", "start n-web-1", … */
  readonly calls: string[] = [];
  readonly #watches = new Set<Watch>();
  #nextId = 0;
  /** While set, create() waits for it: a reconcile held in flight. */
  hold: Promise<void> | undefined;
  /** While set, listOwned() fails with it: the engine stopped answering. */
  listFailure: Error | undefined;

  constructor(private readonly clock: Clock) {}

  get watchers(): number {
    return this.#watches.size;
  }

  starts(name: string): number {
    return this.calls.filter((call) => call === `start ${name}`).length;
  }

  async ping(): Promise<void> {}

  async listOwned(node: string): Promise<ObservedContainer[]> {
    this.calls.push("list");
    if (this.listFailure) throw this.listFailure;
    return [...this.containers.values()].filter((c) => c.node === node).map((c) => ({ ...c }));
  }

  async hasImage(): Promise<boolean> {
    return true;
  }

  async pullImage(): Promise<void> {}

  async create(request: CreateContainerRequest): Promise<string> {
    await this.hold;
    const name = `${request.node}-${request.spec.name}-${request.replica}`;
    this.calls.push(`create ${name}`);
    const id = `c${++this.#nextId}`;
    this.containers.set(id, {
      id,
      name,
      node: request.node,
      stack: request.stack,
      resource: request.spec.name,
      replica: request.replica,
      hash: request.hash,
      fieldHashes: request.fieldHashes,
      image: request.spec.image,
      state: "created",
      createdAt: new Date(this.clock.now()).toISOString(),
    });
    this.#emit(id, "create");
    return id;
  }

  async start(id: string): Promise<void> {
    const container = this.#get(id);
    this.calls.push(`start ${container.name}`);
    container.state = "running";
    this.#emit(id, "start");
  }

  async rename(id: string, name: string): Promise<void> {
    this.#get(id).name = name;
    this.#emit(id, "rename");
  }

  async remove(id: string): Promise<void> {
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
    const found = [...this.containers.values()].find((c) => c.name === name);
    if (!found) throw new Error(`no container ${name}`);
    return found;
  }

  watchEvents(node: string, onEvent: Watch["onEvent"], onEnd: Watch["onEnd"]): () => void {
    const watch = { node, onEvent, onEnd };
    this.#watches.add(watch);
    return () => this.#watches.delete(watch);
  }

  /** Emits an event for a container that need not exist (a burst, a stranger's change). */
  emit(event: EngineEvent): void {
    for (const watch of this.#watches) watch.onEvent(event);
  }

  /** The event stream breaks: every watcher is told once and dropped. */
  breakStream(error = new Error("connection reset")): void {
    for (const watch of [...this.#watches]) {
      this.#watches.delete(watch);
      watch.onEnd(error);
    }
  }

  #get(id: string): ObservedContainer {
    const container = this.containers.get(id);
    if (!container) throw new Error(`no container ${id}`);
    return container;
  }

  #emit(id: string, action: string): void {
    const container = this.#get(id);
    for (const watch of this.#watches) {
      if (watch.node === container.node)
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
