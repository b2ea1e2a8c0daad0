// A node's agent, as kubelet is for a Kubernetes node: it converges its own slice against its own
// engine and keeps doing so — after restarts (the slice is on disk) and when cut off from the tree.
// Changes nobody asked for are reported as `drift` and, unless told otherwise, healed.
import { isDeepStrictEqual } from "node:util";
import { type ActionOutcome, executeContainerPlan } from "../../controllers/container.js";
import type { Message, Payload } from "../bus/message.js";
import type { ContainerEngine, EngineEventSource } from "../drivers/engine.js";
import { errorMessage } from "../errors.js";
import { planNode } from "../plan/container-plan.js";
import { LastAppliedStore } from "../state/last-applied.js";
import { type Clock, systemClock } from "../util/clock.js";
import { ContainerInformer } from "./container-informer.js";
import { CrashLoopBackoff, type CrashLoopOptions } from "./crash-loop.js";
import { InventoryKeeper } from "./inventory-keeper.js";
import { evaluateReadiness } from "./readiness.js";
import { AGENT_EVENTS, type DriftReport, driftReport, progressPublisher } from "./reports.js";
import { EMPTY_SLICE, parseSlice, type SliceDocument, SliceStore } from "./slice.js";
import type { ChildLink, NodeState, NodeSummary } from "./status.js";
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
  /** Backoff between heals of a resource that keeps stopping by itself (defaults: 1 s doubling to 60 s). */
  crashLoop?: Omit<CrashLoopOptions, "clock">;
};

const REMOVING_RECHECK_MS = 100;
const REMOVING_GRACE_MS = 10_000;

/** What `agent.apply` answers. */
export type ApplyAnswer = { accepted: boolean; generation: number; reason?: string };

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
  readonly #crashLoop: CrashLoopBackoff;
  /** When each container was first seen in the engine's "removing" state. */
  readonly #removingSince = new Map<string, number>();
  readonly #unsubscribe: (() => void)[] = [];
  #slice: SliceDocument = EMPTY_SLICE;
  /** Slices are taken one at a time: the generation check and the write never interleave. */
  #applying: Promise<unknown> = Promise.resolve();
  #stopping = false;
  #resyncTimer: unknown;

  constructor(options: NodeAgentOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#sliceStore = new SliceStore(options.home, options.name);
    this.#crashLoop = new CrashLoopBackoff({ clock: this.#clock, ...options.crashLoop });
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
      bus.handle(AGENT_EVENTS.apply, async (request) => JSON.stringify(await this.#answerApply(request))),
      bus.handle(AGENT_EVENTS.state, () => JSON.stringify(this.state())),
      bus.handle(AGENT_EVENTS.summary, () => JSON.stringify(this.summary())),
    );
    // A dead engine must not keep the node off the bus: the informer retries, the queue waits.
    await this.#informer
      .start()
      .catch((error: unknown) => this.#log(`cannot list containers: ${errorMessage(error)}`));
    this.#enqueueAll();
    this.#scheduleResync();
  }

  /**
   * Stops taking work (requests, events, resyncs) and resolves once the slice being taken, the
   * reconciles in flight and the inventory writes they started are done.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#informer.stop();
    this.#queue.stop();
    if (this.#resyncTimer !== undefined) this.#clock.clearTimeout(this.#resyncTimer);
    await this.#applying;
    await this.#queue.idle();
    await this.#inventory.flushed();
  }

  /** Takes a new slice. An older generation is refused, and so is the same generation with other content. */
  applySlice(document: SliceDocument): Promise<ApplyAnswer> {
    const taken = this.#applying.then(() => this.#takeSlice(document));
    this.#applying = taken.catch(() => undefined);
    return taken;
  }

  async #takeSlice(document: SliceDocument): Promise<ApplyAnswer> {
    const held = this.#slice;
    const refuse = (reason: string): ApplyAnswer => ({
      accepted: false,
      generation: held.generation,
      reason,
    });
    if (this.#stopping) return refuse(`node ${this.name} is shutting down`);
    if (document.generation < held.generation)
      return refuse(`generation ${document.generation} is older than the ${held.generation} this node holds`);
    if (document.generation === held.generation) {
      if (isDeepStrictEqual(document, held)) return { accepted: true, generation: held.generation };
      return refuse(
        `the offered slice and the slice this node holds are both generation ${held.generation} ` +
          `but differ in ${describeDifference(document, held)}; a changed slice needs a newer generation`,
      );
    }
    try {
      await this.#sliceStore.write(document);
    } catch (error) {
      return refuse(`cannot write ${this.#sliceStore.path}: ${errorMessage(error)}; the slice was not taken`);
    }
    this.#slice = document;
    this.#statuses.restart(document);
    this.#enqueueAll();
    return { accepted: true, generation: document.generation };
  }

  /** Whatever arrives over the bus gets an answer: a bad request is refused with the reason, never dropped. */
  async #answerApply(request: Message): Promise<ApplyAnswer> {
    const refuse = (reason: string): ApplyAnswer => ({
      accepted: false,
      generation: this.#slice.generation,
      reason,
    });
    let body: unknown;
    try {
      body = request.json();
    } catch (error) {
      return refuse(`the slice is not JSON: ${errorMessage(error)}`);
    }
    const parsed = parseSlice(body);
    if (!("slice" in parsed)) return refuse(`invalid slice: ${parsed.issues.join("; ")}`);
    try {
      return await this.applySlice(parsed.slice);
    } catch (error) {
      this.#log(`cannot take a slice: ${errorMessage(error)}`);
      return refuse(`cannot take the slice: ${errorMessage(error)}`);
    }
  }

  /** What a caller waiting on this node needs, without the containers and inventory. */
  summary(): NodeSummary {
    const parent = this.#options.parent?.();
    return {
      node: this.name,
      ...(parent ? { parent } : {}),
      generation: this.#slice.generation,
      settled: this.settled(),
      unready: this.#statuses.values().filter((s) => s.condition !== "Ready"),
    };
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

  /** Every resource of the slice is Ready or Stalled at the current generation, and nothing is left to prune. */
  settled(): boolean {
    return this.#statuses.settled(this.#slice) && !this.#pruneOutstanding();
  }

  /** A resource that left the slice still has containers this node will prune: not done yet. */
  #pruneOutstanding(): boolean {
    if (!this.#slice.prune) return false;
    const inventory = this.#inventory.inventory;
    return this.#informer
      .containers()
      .some((c) => this.#slice.containers[c.resource] === undefined && inventory[c.resource] !== undefined);
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
    const removing = this.#stillRemoving(resource);
    if (removing) return { requeueAfterMs: removing };
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
    // Only restarts of containers that stopped count towards a crash loop: a container removed or
    // changed by hand is put back at once, however often that happens.
    const restarts = plan.actions.filter((action) => action.type === "start");
    let actions = plan.actions;
    if (drift) {
      // A container that keeps stopping by itself is restarted with growing pauses, not in a hot loop.
      const backoffMs = heal && restarts.length > 0 ? this.#crashLoop.delay(resource) : 0;
      const report = driftReport(
        { node: this.name, resource, generation: slice.generation },
        plan.actions,
        { now: this.#clock.now(), changedAt },
        heal,
      );
      const what = report.differences.map((d) => `${d.container} ${d.reason}`).join("; ");
      if (backoffMs > 0) {
        // The restarts wait; anything else (a replica removed by hand) is healed now.
        actions = plan.actions.filter((action) => action.type !== "start");
        if (actions.length === 0)
          return this.#backOff(resource, slice, { ...report, healInMs: backoffMs }, what);
      }
      this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
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
      message: `${actions.length} action(s) in progress`,
    });
    const outcomes = await executeContainerPlan(actions, {
      engine: this.#options.engine,
      progress: progressPublisher(this.name, slice.generation, (report) =>
        this.#options.bus.publish(AGENT_EVENTS.progress, JSON.stringify(report)),
      ),
      generation: slice.generation,
      concurrency: this.#options.concurrency ?? 8,
      stopTimeoutSeconds: this.#options.stopTimeoutSeconds ?? 10,
    });
    if (!drift) this.#crashLoop.forget(resource);
    else if (actions.some((action) => action.type === "start")) this.#crashLoop.healed(resource);
    try {
      await this.#informer.relist();
    } catch (error) {
      // The engine stopped answering after acting: record what the outcomes created, so a later
      // prune still knows these containers are this node's, then let the queue retry.
      const created = outcomes.flatMap((o) => (o.ok && o.action.type !== "remove" ? [o.action] : []));
      await this.#inventory.record(resource, [...this.#informer.containers(), ...created], slice);
      throw error;
    }
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

  /**
   * A container the engine is removing (`docker rm -f` in progress) is neither there nor gone:
   * wait for its destroy event (or a short while) instead of recreating what is already going.
   * One stuck in that state is acted on after REMOVING_GRACE_MS. Returns how long to wait, or 0.
   */
  #stillRemoving(resource: string): number {
    const now = this.#clock.now();
    let wait = 0;
    for (const container of this.#informer.containers()) {
      if (container.resource !== resource || container.state !== "removing") continue;
      const since = this.#removingSince.get(container.id) ?? now;
      this.#removingSince.set(container.id, since);
      if (now - since < REMOVING_GRACE_MS) wait = REMOVING_RECHECK_MS;
    }
    const present = new Set(this.#informer.containers().map((c) => c.id));
    for (const id of this.#removingSince.keys()) if (!present.has(id)) this.#removingSince.delete(id);
    return wait;
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
    this.#crashLoop.observed(resource, readiness.condition === "Ready");
    this.#status(resource, slice, readiness);
    return readiness.recheckAfterMs === undefined ? undefined : { requeueAfterMs: readiness.recheckAfterMs };
  }

  /**
   * Drift seen while the resource is in a crash loop: reported when an engine event revealed it,
   * the resource is Stalled (so the node settles and an apply reports it), and healed later.
   */
  #backOff(resource: string, slice: SliceDocument, report: DriftReport, what: string): ReconcileResult {
    const waitMs = report.healInMs ?? 0;
    if (report.changedAt !== undefined) {
      this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
      this.#log(`drift on ${resource}: ${what} (crash loop: healing in ${waitMs} ms)`);
    }
    this.#crashLoop.observed(resource, false);
    const restarts = this.#crashLoop.restarts(resource);
    this.#status(resource, slice, {
      condition: "Stalled",
      reason: "CrashLoopBackOff",
      message:
        `${what}; restarted ${restarts} time${restarts === 1 ? "" : "s"}, ` +
        `next try in ${Math.ceil(waitMs / 1000)} s (${new Date(this.#clock.now() + waitMs).toISOString()})`,
    });
    return { requeueAfterMs: waitMs };
  }

  /** Statuses name the generation that was reconciled, even if a newer slice arrived meanwhile. */
  #status(resource: string, slice: SliceDocument, update: StatusUpdate): void {
    this.#statuses.set(resource, slice, update);
  }

  #log(line: string): void {
    this.#options.log?.(`[agent ${this.name}] ${line}`);
  }
}

/** Which parts of two slices of one generation differ, for the refusal message. */
function describeDifference(offered: SliceDocument, held: SliceDocument): string {
  const parts: string[] = [];
  if (offered.prune !== held.prune) parts.push(`prune ${offered.prune} vs ${held.prune}`);
  const names = new Set([...Object.keys(offered.containers), ...Object.keys(held.containers)]);
  for (const name of [...names].sort()) {
    if (!isDeepStrictEqual(offered.containers[name], held.containers[name])) parts.push(name);
  }
  return parts.length > 0 ? parts.join(", ") : "content";
}
