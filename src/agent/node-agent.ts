// A node's agent, as kubelet is for a Kubernetes node: it converges its own slice against its own
// engine and keeps doing so — after restarts (the slice is on disk) and when cut off from the tree.
// Changes nobody asked for are reported as `drift` and, unless told otherwise, healed.
import { type ActionOutcome, executeContainerPlan } from "../../controllers/container.js";
import type { Message, Payload } from "../bus/message.js";
import type { ContainerEngine, EngineEventSource } from "../drivers/engine.js";
import { errorMessage } from "../errors.js";
import { planNode } from "../plan/container-plan.js";
import { LastAppliedStore } from "../state/last-applied.js";
import { type Clock, systemClock } from "../util/clock.js";
import { ContainerInformer } from "./container-informer.js";
import { InventoryKeeper } from "./inventory-keeper.js";
import { evaluateReadiness } from "./readiness.js";
import { AGENT_EVENTS, driftReport, progressPublisher } from "./reports.js";
import { EMPTY_SLICE, type SliceDocument, SliceStore } from "./slice.js";
import type { ChildLink, NodeState } from "./status.js";
import { StatusBook, type StatusUpdate } from "./status-book.js";
import { type ReconcileResult, TerminalError, WorkQueue } from "./work-queue.js";

/** The part of the bus an agent uses: answer requests, publish events. */
export interface AgentBus {
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void;
  publish(event: string, payload?: Payload): void;
}

export type NodeAgentOptions = {
  name: string;
  tags: string[];
  home: string;
  engine: ContainerEngine;
  events: EngineEventSource;
  bus: AgentBus;
  /** false: drift is only reported, never healed (`treescale node --no-heal`). */
  heal: boolean;
  clock?: Clock;
  resyncMs?: number;
  concurrency?: number;
  stopTimeoutSeconds?: number;
  parent?: () => string | undefined;
  children?: () => ChildLink[];
  log?: (line: string) => void;
};

export class NodeAgent {
  readonly name: string;
  readonly #options: NodeAgentOptions;
  readonly #clock: Clock;
  readonly #sliceStore: SliceStore;
  readonly #inventory: InventoryKeeper;
  readonly #statuses: StatusBook;
  readonly #informer: ContainerInformer;
  readonly #queue: WorkQueue;
  /** Generation at which each resource last matched its spec: a mismatch at the same generation is drift. */
  readonly #convergedAt = new Map<string, number>();
  /** Engine time of the first unhandled change per resource, for the drift report's latency. */
  readonly #changedAt = new Map<string, number>();
  readonly #unsubscribe: (() => void)[] = [];
  #slice: SliceDocument = EMPTY_SLICE;
  #resyncTimer: unknown;

  constructor(options: NodeAgentOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#sliceStore = new SliceStore(options.home, options.name);
    this.#inventory = new InventoryKeeper(
      new LastAppliedStore(options.home, options.name),
      this.#clock,
      (error) => this.#log(`cannot record inventory: ${errorMessage(error)}`),
    );
    this.#statuses = new StatusBook(options.name, this.#clock, (status) =>
      options.bus.publish(
        AGENT_EVENTS.status,
        JSON.stringify({
          node: this.name,
          generation: this.#slice.generation,
          settled: this.settled(),
          status,
        }),
      ),
    );
    this.#queue = new WorkQueue({
      clock: this.#clock,
      concurrency: options.concurrency ?? 8,
      reconcile: (key) => this.#reconcile(key),
      events: {
        failed: (key, error, retryInMs) =>
          this.#log(`reconcile ${key} failed (retry in ${retryInMs} ms): ${errorMessage(error)}`),
        terminal: (key, error) => this.#log(`reconcile ${key} stalled: ${errorMessage(error)}`),
      },
    });
    this.#informer = new ContainerInformer({
      node: options.name,
      engine: options.engine,
      events: options.events,
      clock: this.#clock,
      onChange: (resources, eventAt) => {
        for (const resource of resources) {
          if (eventAt !== undefined && !this.#changedAt.has(resource)) this.#changedAt.set(resource, eventAt);
          this.#queue.add(resource);
        }
      },
      onError: (message) => this.#log(message),
    });
  }

  async start(): Promise<void> {
    [this.#slice] = await Promise.all([this.#sliceStore.read(), this.#inventory.load()]);
    const bus = this.#options.bus;
    this.#unsubscribe.push(
      bus.handle(AGENT_EVENTS.apply, async (request) =>
        JSON.stringify(await this.applySlice(request.json<SliceDocument>())),
      ),
      bus.handle(AGENT_EVENTS.state, () => JSON.stringify(this.state())),
    );
    // A dead engine must not keep the node off the bus: the informer retries, the queue waits.
    await this.#informer
      .start()
      .catch((error: unknown) => this.#log(`cannot list containers: ${errorMessage(error)}`));
    this.#enqueueAll();
    this.#scheduleResync();
  }

  stop(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#informer.stop();
    this.#queue.stop();
    if (this.#resyncTimer !== undefined) this.#clock.clearTimeout(this.#resyncTimer);
  }

  /** Takes a new slice; an older generation than the one held is refused. */
  async applySlice(
    document: SliceDocument,
  ): Promise<{ accepted: boolean; generation: number; reason?: string }> {
    if (document.generation < this.#slice.generation) {
      return {
        accepted: false,
        generation: this.#slice.generation,
        reason: `generation ${document.generation} is older than the ${this.#slice.generation} this node holds`,
      };
    }
    await this.#sliceStore.write(document);
    this.#slice = document;
    this.#statuses.restart(document);
    this.#enqueueAll();
    return { accepted: true, generation: document.generation };
  }

  state(): NodeState {
    const parent = this.#options.parent?.();
    return {
      node: this.name,
      tags: this.#options.tags,
      ...(parent ? { parent } : {}),
      children: this.#options.children?.() ?? [],
      generation: this.#slice.generation,
      settled: this.settled(),
      containers: this.#informer.containers(),
      statuses: this.#statuses.values(),
      inventory: this.#inventory.inventory,
      slice: this.#slice,
    };
  }

  /** Every resource of the slice is Ready or Stalled at the current generation. */
  settled(): boolean {
    return this.#statuses.settled(this.#slice);
  }

  /** Resolves when nothing is queued or running. For tests and orderly shutdown. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  #enqueueAll(): void {
    const keys = new Set([
      ...Object.keys(this.#slice.containers),
      ...this.#informer.containers().map((c) => c.resource),
    ]);
    for (const key of keys) this.#queue.add(key);
  }

  #scheduleResync(): void {
    const period = this.#options.resyncMs ?? 60_000;
    const jittered = period * (0.9 + Math.random() * 0.2);
    this.#resyncTimer = this.#clock.setTimeout(() => {
      void this.#informer
        .relist()
        .catch((error: unknown) => this.#log(`resync list failed: ${errorMessage(error)}`))
        .then(() => this.#enqueueAll());
      this.#scheduleResync();
    }, jittered);
  }

  async #reconcile(resource: string): Promise<ReconcileResult> {
    if (!this.#informer.synced) await this.#informer.relist();
    const slice = this.#slice;
    const entry = slice.containers[resource];
    const plan = planNode({
      node: this.name,
      slice: slice.containers,
      observed: this.#informer.containers(),
      inventory: this.#inventory.inventory,
      prune: slice.prune,
      only: resource,
    });
    const changedAt = this.#changedAt.get(resource);
    this.#changedAt.delete(resource);
    if (plan.actions.length === 0) return this.#settle(resource, slice);

    const drift = this.#convergedAt.get(resource) === slice.generation;
    const heal = this.#options.heal && (entry?.spec.heal ?? true);
    if (drift) {
      const report = driftReport(
        { node: this.name, resource, generation: slice.generation },
        plan.actions,
        { now: this.#clock.now(), changedAt },
        heal,
      );
      this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
      const what = report.differences.map((d) => `${d.container} ${d.reason}`).join("; ");
      this.#log(`drift on ${resource}: ${what}${heal ? " (healing)" : ""}`);
      if (!heal) {
        this.#status(resource, slice, {
          condition: "Stalled",
          reason: "DriftNotHealed",
          message: `drift reported, not healed: ${what}`,
        });
        return undefined;
      }
    }

    this.#status(resource, slice, {
      condition: "Reconciling",
      reason: drift ? "HealingDrift" : "Applying",
      message: `${plan.actions.length} action(s) in progress`,
    });
    const outcomes = await executeContainerPlan(plan.actions, {
      engine: this.#options.engine,
      progress: progressPublisher(this.name, slice.generation, (report) =>
        this.#options.bus.publish(AGENT_EVENTS.progress, JSON.stringify(report)),
      ),
      generation: slice.generation,
      concurrency: this.#options.concurrency ?? 8,
      stopTimeoutSeconds: this.#options.stopTimeoutSeconds ?? 10,
    });
    await this.#informer.relist();
    await this.#inventory.record(resource, this.#informer.containers(), slice);
    const failures = outcomes.filter((o): o is Extract<ActionOutcome, { ok: false }> => !o.ok);
    if (failures.length > 0) {
      const message = failures.map((f) => `${f.action.name}: ${f.error}`).join("; ");
      // A missing image does not fix itself: stall and say so, rather than retry forever.
      const terminal = failures.every((f) => f.code === "IMAGE_UNAVAILABLE");
      this.#status(resource, slice, {
        condition: terminal ? "Stalled" : "Reconciling",
        reason: terminal ? "ImageUnavailable" : "ActionFailed",
        message,
      });
      throw terminal ? new TerminalError(message) : new Error(message);
    }
    return this.#settle(resource, slice);
  }

  /** Records the resource's status from what runs now; asks to look again while health checks decide. */
  #settle(resource: string, slice: SliceDocument): ReconcileResult {
    void this.#inventory.record(resource, this.#informer.containers(), slice);
    const entry = slice.containers[resource];
    if (!entry) {
      this.#statuses.delete(resource);
      return undefined;
    }
    this.#convergedAt.set(resource, slice.generation);
    const readiness = evaluateReadiness(entry, this.#informer.containers());
    this.#status(resource, slice, readiness);
    return readiness.recheckAfterMs === undefined ? undefined : { requeueAfterMs: readiness.recheckAfterMs };
  }

  /** Statuses name the generation that was reconciled, even if a newer slice arrived meanwhile. */
  #status(resource: string, slice: SliceDocument, update: StatusUpdate): void {
    this.#statuses.set(resource, slice, update);
  }

  #log(line: string): void {
    this.#options.log?.(`[agent ${this.name}] ${line}`);
  }
}
