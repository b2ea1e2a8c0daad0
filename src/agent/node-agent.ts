// A node's agent, as kubelet is for a Kubernetes node: it converges its own slices (one per stack)
// against its own drivers and keeps doing so — after restarts (the slices are on disk) and when cut
// off from the tree. Every kind is a controller handed in by the composition root; the agent knows
// none by name. Changes nobody asked for are reported as `drift` and, unless told otherwise, healed.
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/frames.js";
import { errorMessage, TreescaleError } from "../errors.js";
import type { BuildIdentity } from "../model/build-identity.js";
import {
  AGENT_EVENTS,
  type ApplyAnswer,
  blindKinds,
  type ChildLink,
  type NodeState,
  type NodeSummary,
  type SliceDocument,
} from "../model/wire.js";
import type {
  NodeController,
  NodeRuntime,
  ObservedObject,
  Observer,
  Outcome,
  PeersBelow,
  PlannedAction,
  RuntimeHost,
  SliceEntry,
  TreeImageSource,
  UsageSource,
} from "../reconcile/controller.js";
import { resourceKey, splitResourceKey } from "../reconcile/keys.js";
import { storedStacks } from "../state/stack-files.js";
import { type Clock, systemClock } from "../util/clock.js";
import { VERSION } from "../version.js";
import { AgentMetrics } from "./agent-metrics.js";
import { CrashLoopBackoff, type CrashLoopOptions } from "./crash-loop.js";
import { InventoryKeeper } from "./inventory-keeper.js";
import { LogStreams } from "./log-streams.js";
import { parseSlice } from "./parse-slice.js";
import { Releases } from "./releases.js";
import { driftReport, plannedReport, progressPublisher, replicaOf } from "./reports.js";
import { SliceKeeper } from "./slice-keeper.js";
import { StatusBook, type StatusUpdate } from "./status-book.js";
import { SubtreePeers } from "./subtree-peers.js";
import { type ReconcileResult, TerminalError, WorkQueue } from "./work-queue.js";

/** The part of the bus an agent uses: answer requests, publish events. */
export interface AgentBus {
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void;
  publish(event: string, payload?: Payload, target?: Target): void;
  subscribe(event: string, handler: (message: Message) => void): () => void;
}

export type NodeAgentOptions = {
  name: string;
  tags: string[];
  home: string;
  /** The node-scope kinds this node runs. */
  controllers: readonly NodeController[];
  bus: AgentBus;
  /** false: drift is only reported, never healed (`treescale node --no-heal`). */
  heal: boolean;
  /**
   * Observe and plan, never act: what an embedded node started for `diff`, `get` or a dry run
   * runs, so that looking never changes anything.
   */
  readOnly?: boolean;
  clock?: Clock;
  resyncMs?: number;
  concurrency?: number;
  parent?: () => string | undefined;
  /** Where the nodes above reach this one (the address its parent link leaves from). */
  address?: () => string | undefined;
  /** Where this node takes clients and child nodes (its bus listener): what `get -o wide` shows. */
  listen?: () => string | undefined;
  children?: () => ChildLink[];
  log?: (line: string) => void;
  /** Images from the tree for kinds that ask (image_source = "tree"). */
  treeImages?: TreeImageSource;
  /** Backoff between heals of a resource that keeps stopping by itself (defaults: 1 s doubling to 60 s). */
  crashLoop?: Omit<CrashLoopOptions, "clock">;
  /** How `treescale build` made this node, read at each agent.state (its files as they are then). */
  build?: () => Promise<BuildIdentity | undefined>;
};

const TRANSIENT_RECHECK_MS = 100;
const TRANSIENT_GRACE_MS = 10_000;

type Kind = {
  controller: NodeController;
  runtime: NodeRuntime<ObservedObject, PlannedAction>;
  observer: Observer<ObservedObject>;
};

/** Work-queue keys name the stack too: two stacks may both run a `container/web`. */
function queueKey(stack: string, key: string): string {
  return `${stack}:${key}`;
}

function splitQueueKey(queued: string): { stack: string; key: string } {
  const colon = queued.indexOf(":");
  return { stack: queued.slice(0, colon), key: queued.slice(colon + 1) };
}

export class NodeAgent {
  readonly name: string;
  readonly #options: NodeAgentOptions;
  readonly #clock: Clock;
  readonly #kinds = new Map<string, Kind>();
  readonly #inventory: InventoryKeeper;
  readonly #statuses: StatusBook;
  readonly #queue: WorkQueue;
  readonly #slices: SliceKeeper;
  /** Generation at which each queue key last matched its spec: a mismatch at the same generation is drift. */
  readonly #convergedAt = new Map<string, number>();
  /** Queue keys whose rollout stopped, with the generation it stopped at: not acted on again until a new one. */
  readonly #held = new Map<string, number>();
  /** Engine time of the first unhandled change per queue key, for the drift report's latency. */
  readonly #changedAt = new Map<string, number>();
  readonly #releases: Releases;
  readonly #subtree: SubtreePeers;
  readonly #crashLoop: CrashLoopBackoff;
  /** Per queue key, when each of its objects in transition was first seen so. */
  readonly #transientSince = new Map<string, Map<string, number>>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #metrics = new AgentMetrics();
  readonly #logs: LogStreams;
  readonly #stopSignal = new AbortController();
  #stopping = false;
  #resyncTimer: unknown;

  constructor(options: NodeAgentOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#slices = new SliceKeeper(options.home, options.name);
    this.#crashLoop = new CrashLoopBackoff({ clock: this.#clock, ...options.crashLoop });
    this.#inventory = new InventoryKeeper(options.home, options.name, this.#clock, (error) =>
      this.#log(`cannot record inventory: ${errorMessage(error)}`),
    );
    this.#statuses = new StatusBook(options.name, this.#clock, (status) =>
      options.bus.publish(
        AGENT_EVENTS.status,
        JSON.stringify({
          node: this.name,
          stack: status.stack,
          generation: this.#slices.slice(status.stack).generation,
          settled: this.settled(status.stack),
          status,
        }),
      ),
    );
    this.#releases = new Releases({
      kinds: this.#kinds,
      entries: (kind) =>
        this.#slices.all().map((slice) => ({ stack: slice.stack, entries: this.#entries(slice, kind) })),
      enqueueDependents: (kind) => this.#enqueueDependents(kind),
      clock: this.#clock,
      log: (line) => this.#log(line),
    });
    this.#subtree = new SubtreePeers({
      node: options.name,
      controllers: options.controllers,
      bus: options.bus,
      clock: this.#clock,
      parent: () => options.parent?.(),
      address: () => options.address?.(),
      items: (kind) => this.#kinds.get(kind)?.observer.items() ?? [],
      changed: (kinds) => {
        for (const kind of kinds) this.#enqueueDependents(kind);
      },
      log: (line) => this.#log(line),
    });
    this.#logs = new LogStreams({
      node: options.name,
      sources: (kind, resource, stack) => {
        const found = this.#kinds.get(kind);
        const logs = found?.runtime.logs;
        if (!found || !logs) return undefined;
        return found.observer
          .items()
          .filter((o) => o.resource === resource && (stack === undefined || o.stack === stack))
          .map((object) => ({
            object,
            read: (request, onLine, signal) => logs(object, request, onLine, signal),
          }));
      },
      publish: (event, payload, target) => options.bus.publish(event, payload, target),
    });
    this.#queue = new WorkQueue({
      clock: this.#clock,
      concurrency: options.concurrency ?? 8,
      reconcile: (key) => this.#timedReconcile(key),
      events: {
        failed: (key, error, retryInMs) =>
          this.#log(`reconcile ${key} failed (retry in ${retryInMs} ms): ${errorMessage(error)}`),
        terminal: (key, error) => this.#log(`reconcile ${key} stalled: ${errorMessage(error)}`),
      },
    });
  }

  async start(): Promise<void> {
    const stacks = await storedStacks(this.#options.home, this.name);
    const [, slices] = await Promise.all([
      this.#startKinds(),
      this.#slices.load(stacks),
      this.#inventory.load(stacks),
    ]);
    for (const slice of slices) this.#statuses.seed(slice);
    const bus = this.#options.bus;
    this.#unsubscribe.push(
      bus.handle(AGENT_EVENTS.apply, async (request) => JSON.stringify(await this.#answerApply(request))),
      bus.handle(AGENT_EVENTS.state, async () => {
        const build = await this.#options.build?.();
        return JSON.stringify(build ? { ...this.state(), build } : this.state());
      }),
      bus.handle(AGENT_EVENTS.summary, (request) => JSON.stringify(this.summary(stackAsked(request)))),
      bus.handle(AGENT_EVENTS.logs, (request) => JSON.stringify(this.#logs.start(request.json()))),
      bus.handle(AGENT_EVENTS.logsKeep, (request) => JSON.stringify(this.#logs.keep(request.json()))),
    );
    // The first lists are not waited for: an engine that does not answer must not hold the node's
    // start (or its stop) for a deadline. Reconciles wait for their kind's list; a finished list
    // announces what it found.
    for (const { controller, observer } of this.#kinds.values()) {
      observer
        .start()
        .catch((error: unknown) => this.#log(`${controller.kind}: cannot list: ${errorMessage(error)}`));
    }
    this.#subtree.start();
    this.#enqueueAll();
    this.#scheduleResync();
  }

  /** The live figures of the kinds that have them (containers), once started; none before. */
  usage(): UsageSource[] {
    return [...this.#kinds.values()].flatMap(({ runtime }) => (runtime.usage ? [runtime.usage] : []));
  }

  /** Each kind's acting half and observer; loaded here, so constructing an agent costs nothing. */
  async #startKinds(): Promise<void> {
    const host: RuntimeHost = {
      node: this.name,
      home: this.#options.home,
      ...(this.#options.treeImages ? { treeImages: this.#options.treeImages } : {}),
    };
    const runtimes = await Promise.all(
      this.#options.controllers.map((controller) => controller.runtime(host)),
    );
    for (const [index, controller] of this.#options.controllers.entries()) {
      const runtime = runtimes[index]!;
      const observer = runtime.observe({
        node: this.name,
        clock: this.#clock,
        signal: this.#stopSignal.signal,
        onChange: (changed, eventAt) => {
          for (const { stack, resource } of changed) {
            const queued = queueKey(stack, resourceKey(controller.kind, resource));
            if (eventAt !== undefined && !this.#changedAt.has(queued)) this.#changedAt.set(queued, eventAt);
            this.#queue.add(queued);
          }
          if (changed.length > 0) {
            this.#enqueueDependents(controller.kind);
            this.#subtree.changed(controller.kind);
          }
        },
        onError: (message) => this.#log(`${controller.kind}: ${message}`),
      });
      this.#kinds.set(controller.kind, { controller, runtime, observer });
    }
  }

  /**
   * Stops taking work (requests, events, resyncs), aborts the calls under way, and resolves once
   * the slice being taken, the reconciles in flight and the inventory writes they started are done.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#subtree.stop();
    this.#logs.stopAll();
    for (const { observer } of this.#kinds.values()) observer.stop();
    this.#queue.stop();
    this.#stopSignal.abort();
    if (this.#resyncTimer !== undefined) this.#clock.clearTimeout(this.#resyncTimer);
    await this.#slices.settled();
    await this.#queue.idle();
    await this.#inventory.flushed();
  }

  /** Takes a new slice. An older generation is refused, and so is the same generation with other content. */
  async applySlice(document: SliceDocument): Promise<ApplyAnswer> {
    const { answer, taken } = await this.#slices.offer(
      document,
      this.#stopping ? `node ${this.name} is shutting down` : undefined,
    );
    if (taken) {
      for (const key of Object.keys(document.resources)) this.#held.delete(queueKey(document.stack, key));
      this.#statuses.restart(document);
      this.#enqueueAll();
    }
    return answer;
  }

  /** Whatever arrives over the bus gets an answer: a bad request is refused with the reason, never dropped. */
  async #answerApply(request: Message): Promise<ApplyAnswer> {
    const refuse = (reason: string): ApplyAnswer => ({ accepted: false, generation: 0, reason });
    let body: unknown;
    try {
      body = request.json();
    } catch (error) {
      return refuse(`the slice is not JSON: ${errorMessage(error)}`);
    }
    const parsed = parseSlice(body, (kind, name, spec) => {
      const known = this.#kinds.get(kind);
      return known ? known.controller.checkSpec(name, spec) : [];
    });
    if (!("slice" in parsed)) return refuse(`invalid slice: ${parsed.issues.join("; ")}`);
    try {
      return await this.applySlice(parsed.slice);
    } catch (error) {
      this.#log(`cannot take a slice: ${errorMessage(error)}`);
      return refuse(`cannot take the slice: ${errorMessage(error)}`);
    }
  }

  /** What a caller waiting on this node needs for one stack, without the objects and inventory. */
  summary(stack: string): NodeSummary {
    const parent = this.#options.parent?.();
    return {
      node: this.name,
      ...(parent ? { parent } : {}),
      stack,
      generation: this.#slices.slice(stack).generation,
      settled: this.settled(stack),
      unready: this.#statuses.values(stack).filter((s) => s.condition !== "Ready"),
      blind: this.blind(),
    };
  }

  /** The kinds this node cannot see now, with why (an engine that does not answer). */
  blind(): string[] {
    return blindKinds(this.#observations(false));
  }

  state(): NodeState {
    const parent = this.#options.parent?.();
    const listen = this.#options.listen?.();
    const stacks: NodeState["stacks"] = {};
    for (const slice of this.#slices.all()) {
      const stack = slice.stack;
      stacks[stack] = {
        slice,
        settled: this.settled(stack),
        inventory: this.#inventory.inventory(stack),
        statuses: this.#statuses.values(stack),
      };
    }
    return {
      node: this.name,
      version: VERSION,
      tags: this.#options.tags,
      ...(parent ? { parent } : {}),
      ...(listen ? { listen } : {}),
      children: this.#options.children?.() ?? [],
      observed: this.#observations(true),
      stacks,
    };
  }

  #observations(withItems: boolean): NodeState["observed"] {
    const observed: NodeState["observed"] = {};
    for (const [kind, { observer }] of this.#kinds) {
      const error = observer.error;
      observed[kind] = {
        synced: observer.synced,
        ...(error !== undefined ? { error } : {}),
        items: withItems ? observer.items() : [],
      };
    }
    return observed;
  }

  /** Every resource of the stack's slice is Ready or Stalled at its generation, and nothing is left to prune. */
  settled(stack: string): boolean {
    const slice = this.#slices.slice(stack);
    return this.#statuses.settled(slice) && !this.#pruneOutstanding(slice);
  }

  /** A resource that left the slice still has objects this node will prune: not done yet. */
  #pruneOutstanding(slice: SliceDocument): boolean {
    if (!slice.prune) return false;
    const inventory = this.#inventory.inventory(slice.stack);
    for (const [kind, { observer }] of this.#kinds) {
      for (const item of observer.items()) {
        if (item.stack !== slice.stack) continue;
        const key = resourceKey(kind, item.resource);
        if (slice.resources[key] === undefined && inventory[key] !== undefined) return true;
      }
    }
    return false;
  }

  /** Resolves when nothing is queued or running. For tests and orderly shutdown. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  #enqueueAll(): void {
    this.#subtree.listen(
      this.#slices
        .all()
        .some((slice) =>
          Object.keys(slice.resources).some(
            (key) => this.#kinds.get(splitResourceKey(key).kind)?.controller.peersFromBelow,
          ),
        ),
    );
    const keys = new Set<string>();
    for (const slice of this.#slices.all())
      for (const key of Object.keys(slice.resources)) keys.add(queueKey(slice.stack, key));
    for (const [kind, { observer }] of this.#kinds)
      for (const item of observer.items()) keys.add(queueKey(item.stack, resourceKey(kind, item.resource)));
    for (const key of keys) this.#queue.add(key);
  }

  /** Kinds that plan from `kind`'s objects see its changes too (a backend started or gone). */
  #enqueueDependents(kind: string): void {
    for (const { controller } of this.#kinds.values()) {
      if (!controller.dependsOn?.includes(kind)) continue;
      for (const slice of this.#slices.all())
        for (const key of Object.keys(slice.resources))
          if (splitResourceKey(key).kind === controller.kind) this.#queue.add(queueKey(slice.stack, key));
    }
  }

  #scheduleResync(): void {
    const period = this.#options.resyncMs ?? 60_000;
    const jittered = period * (0.9 + Math.random() * 0.2);
    this.#resyncTimer = this.#clock.setTimeout(() => {
      void Promise.all(
        [...this.#kinds.values()].map(({ controller, observer }) =>
          observer
            .relist()
            .catch((error: unknown) =>
              this.#log(`${controller.kind}: resync list failed: ${errorMessage(error)}`),
            ),
        ),
      ).then(() => this.#enqueueAll());
      this.#scheduleResync();
    }, jittered);
  }

  /** The agent's figures for /metrics (Prometheus text). */
  metrics(): string {
    return this.#metrics.render(this.name, { queued: this.#queue.length, active: this.#queue.active });
  }

  async #timedReconcile(queued: string): Promise<ReconcileResult> {
    const started = performance.now();
    try {
      return await this.#reconcile(queued);
    } finally {
      const { kind } = splitResourceKey(splitQueueKey(queued).key);
      this.#metrics.reconciled(kind, (performance.now() - started) / 1000);
    }
  }

  async #reconcile(queued: string): Promise<ReconcileResult> {
    const { stack, key } = splitQueueKey(queued);
    const { kind: kindName, name } = splitResourceKey(key);
    const slice = this.#slices.slice(stack);
    const entry = slice.resources[key];
    const kind = this.#kinds.get(kindName);
    if (!kind) {
      if (entry)
        this.#status(key, slice, {
          condition: "Stalled",
          reason: "NoController",
          message: `this node's version has no controller for kind ${kindName}`,
        });
      return undefined;
    }
    if (this.#held.get(queued) === slice.generation) return undefined;
    const { controller, runtime, observer } = kind;
    if (!observer.synced || observer.error !== undefined) {
      // Said before the list is tried again: that list may take its whole deadline.
      if (entry && observer.error !== undefined)
        this.#status(key, slice, {
          condition: "Stalled",
          reason: "EngineUnreachable",
          message: `cannot list ${kindName} objects: ${observer.error}`,
        });
      try {
        await observer.relist();
      } catch (error) {
        // Said, not hidden: a resource whose objects cannot be listed is not Ready, whatever ran before.
        if (entry) this.#status(key, slice, failureStatus(error, `cannot list ${kindName} objects`));
        throw error;
      }
    }
    // A kind that plans from others' objects must not plan from a list not made yet: a balancer would
    // take "no containers" for "no backends" and empty its rules.
    for (const peer of controller.dependsOn ?? []) {
      const peerObserver = this.#kinds.get(peer)?.observer;
      if (peerObserver && !peerObserver.synced) await peerObserver.relist();
    }
    const observed = observer.items().filter((item) => item.stack === stack);
    const plan = controller.plan({
      node: this.name,
      stack,
      entries: this.#entries(slice, kindName),
      // What the objects were made from, so a plan says each changed field's old value too.
      held: this.#entries(this.#slices.previous(stack), kindName),
      observed,
      inventory: this.#kindInventory(stack, kindName),
      prune: slice.prune,
      only: name,
      peers: this.#peers(controller),
      leaving: this.#leavingPeers(controller),
      ...(controller.peersFromBelow ? { below: this.#below(controller) } : {}),
    });
    const waitMs = this.#transientWait(queued, plan.transient ?? []);
    if (waitMs > 0) return { requeueAfterMs: waitMs };
    const changedAt = this.#changedAt.get(queued);
    this.#changedAt.delete(queued);
    if (plan.actions.length === 0) return this.#settle(queued, kind, slice);
    if (this.#options.readOnly) {
      const what = plan.actions.map((action) => controller.describe(action));
      this.#status(key, slice, {
        condition: "Reconciling",
        reason: "NotApplied",
        message: `${what.length} action(s) pending: ${what.map((l) => `${l.verb} ${l.target}`).join(", ")}`,
      });
      return undefined;
    }

    const drift = this.#convergedAt.get(queued) === slice.generation;
    const heal = this.#options.heal && (entry?.spec as { heal?: boolean } | undefined)?.heal !== false;
    // Only restarts of objects that stopped count towards a crash loop: one removed or changed by
    // hand is put back at once, however often that happens.
    const isRestart = (action: PlannedAction) => controller.describe(action).effect === "start";
    let actions = plan.actions;
    if (drift) {
      const backoffMs = heal && actions.some(isRestart) ? this.#crashLoop.delay(queued) : 0;
      const report = driftReport(
        { node: this.name, stack, resource: key, generation: slice.generation },
        plan.actions.map((action) => controller.describe(action)),
        { now: this.#clock.now(), changedAt },
        heal,
      );
      const what = report.differences.map((d) => `${d.target} ${d.reason}`).join("; ");
      if (backoffMs > 0) {
        // The restarts wait; anything else (a replica removed by hand) is healed now.
        actions = plan.actions.filter((action) => !isRestart(action));
        if (actions.length === 0)
          return this.#backOff(queued, key, slice, { ...report, healInMs: backoffMs }, what);
      }
      this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
      this.#metrics.drifted(kindName);
      this.#log(`drift on ${stack}/${key}: ${what}${heal ? " (healing)" : ""}`);
      if (!heal) {
        this.#status(key, slice, {
          condition: "Stalled",
          reason: "DriftNotHealed",
          message: `drift reported, not healed: ${what}`,
        });
        return undefined;
      }
    }

    this.#status(key, slice, {
      condition: "Reconciling",
      reason: drift ? "HealingDrift" : "Applying",
      message: `${actions.length} action(s) in progress`,
    });
    this.#options.bus.publish(
      AGENT_EVENTS.planned,
      JSON.stringify(
        plannedReport(
          { node: this.name, stack, resource: key, generation: slice.generation },
          actions,
          (action) => controller.describe(action),
          drift,
        ),
      ),
    );
    const outcomes = await runtime.execute(actions, {
      node: this.name,
      stack,
      generation: slice.generation,
      progress: progressPublisher(
        { node: this.name, stack, generation: slice.generation },
        (action) => controller.describe(action),
        (report) => this.#options.bus.publish(AGENT_EVENTS.progress, JSON.stringify(report)),
        (start) => this.#options.bus.publish(AGENT_EVENTS.started, JSON.stringify(start)),
      ),
      signal: this.#stopSignal.signal,
      previous: this.#entries(this.#slices.previous(stack), kindName),
      release: (ids) => this.#releases.release(kindName, ids, this.#stopSignal.signal),
    });
    for (const outcome of outcomes)
      this.#metrics.acted(kindName, outcome.ok, outcome.ok ? undefined : outcome.code);
    if (!drift) this.#crashLoop.forget(queued);
    else if (actions.some(isRestart)) this.#crashLoop.healed(queued);
    try {
      // Stopping aborts every engine call: record from what is known rather than list again.
      if (!this.#stopSignal.signal.aborted) await observer.relist();
    } catch (error) {
      // The engine stopped answering after acting: record what the outcomes created, so a later
      // prune still knows these objects are this node's, then let the queue retry.
      const replicas = [
        ...observer
          .items()
          .filter((i) => i.stack === stack && i.resource === name)
          .map((i) => i.replica),
        ...outcomes.flatMap((o) =>
          o.ok && controller.describe(o.action).effect !== "remove" ? [replicaOf(o.action) ?? 1] : [],
        ),
      ];
      await this.#inventory.record(key, [...new Set(replicas)], slice);
      if (entry) this.#status(key, slice, failureStatus(error, "cannot list after acting"));
      throw error;
    }
    await this.#recordInventory(kind, key, slice);
    const failures = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
    if (failures.length > 0) return this.#failed(queued, key, slice, failures, controller);
    return this.#settle(queued, kind, slice);
  }

  /** How failed actions leave the resource: held, stalled for good, or retried. */
  #failed(
    queued: string,
    key: string,
    slice: SliceDocument,
    failures: readonly Extract<Outcome, { ok: false }>[],
    controller: NodeController,
  ): ReconcileResult {
    const message = failures.map((f) => `${controller.describe(f.action).target}: ${f.error}`).join("; ");
    const reasonOf = (failure: Extract<Outcome, { ok: false }> | undefined) =>
      failure?.code ? camelCase(failure.code) : "ActionFailed";
    const holding = failures.find((f) => f.disposition === "hold");
    if (holding) {
      this.#held.set(queued, slice.generation);
      this.#status(key, slice, { condition: "Stalled", reason: reasonOf(holding), message });
      throw new TerminalError(message);
    }
    const terminal = failures.every((f) => f.disposition === "terminal");
    const stalled = failures.find((f) => f.disposition === "stalled");
    this.#status(key, slice, {
      condition: terminal || stalled ? "Stalled" : "Reconciling",
      reason: terminal ? reasonOf(failures[0]) : stalled ? reasonOf(stalled) : "ActionFailed",
      message,
    });
    throw terminal
      ? new TerminalError(message)
      : new TreescaleError(stalled?.code ?? "ACTION_FAILED", message);
  }

  /** How long to wait for objects in transition; 0 when none is, or they have been so too long. */
  #transientWait(queued: string, ids: readonly string[]): number {
    const now = this.#clock.now();
    const before = this.#transientSince.get(queued);
    const seen = new Map<string, number>();
    let wait = 0;
    for (const id of ids) {
      const since = before?.get(id) ?? now;
      seen.set(id, since);
      if (now - since < TRANSIENT_GRACE_MS) wait = TRANSIENT_RECHECK_MS;
    }
    if (seen.size > 0) this.#transientSince.set(queued, seen);
    else this.#transientSince.delete(queued);
    return wait;
  }

  /** The observed objects of the kinds `controller` plans from (every stack: a backend may be any stack's). */
  #peers(controller: NodeController): Record<string, ObservedObject[]> {
    const peers: Record<string, ObservedObject[]> = {};
    for (const kind of controller.dependsOn ?? [])
      peers[kind] = this.#releases.visible(kind, this.#kinds.get(kind)?.observer.items() ?? []);
    return peers;
  }

  /** The objects of those kinds being released, still there. */
  #leavingPeers(controller: NodeController): Record<string, ObservedObject[]> {
    const leaving: Record<string, ObservedObject[]> = {};
    for (const kind of controller.dependsOn ?? [])
      leaving[kind] = this.#releases.leaving(kind, this.#kinds.get(kind)?.observer.items() ?? []);
    return leaving;
  }

  /** The same kinds' objects on the nodes below, as their announcements last said. */
  #below(controller: NodeController): Record<string, PeersBelow[]> {
    return Object.fromEntries((controller.dependsOn ?? []).map((kind) => [kind, this.#subtree.below(kind)]));
  }

  #entries(slice: SliceDocument, kind: string): Record<string, SliceEntry> {
    const entries: Record<string, SliceEntry> = {};
    for (const [key, entry] of Object.entries(slice.resources)) {
      const { kind: k, name } = splitResourceKey(key);
      if (k === kind) entries[name] = entry;
    }
    return entries;
  }

  #kindInventory(stack: string, kind: string): Record<string, { replicas: readonly number[] }> {
    const inventory: Record<string, { replicas: readonly number[] }> = {};
    for (const [key, entry] of Object.entries(this.#inventory.inventory(stack))) {
      const { kind: k, name } = splitResourceKey(key);
      if (k === kind) inventory[name] = entry;
    }
    return inventory;
  }

  #recordInventory(kind: Kind, key: string, slice: SliceDocument): Promise<void> {
    const { name } = splitResourceKey(key);
    const replicas = kind.observer
      .items()
      .filter((item) => item.stack === slice.stack && item.resource === name)
      .map((item) => item.replica);
    return this.#inventory.record(key, replicas, slice);
  }

  /** Records the resource's status from what runs now; asks to look again while health checks decide. */
  #settle(queued: string, kind: Kind, slice: SliceDocument): ReconcileResult {
    const { key } = splitQueueKey(queued);
    void this.#recordInventory(kind, key, slice);
    const entry = slice.resources[key];
    if (!entry) {
      // Gone from the slice: nothing about it is kept, so a node's memory does not grow with history.
      this.#statuses.delete(slice.stack, key);
      this.#convergedAt.delete(queued);
      this.#held.delete(queued);
      this.#crashLoop.forget(queued);
      return undefined;
    }
    this.#convergedAt.set(queued, slice.generation);
    const { name } = splitResourceKey(key);
    const observed = kind.observer.items().filter((i) => i.stack === slice.stack && i.resource === name);
    const readiness = kind.controller.readiness(
      entry,
      observed,
      this.#peers(kind.controller),
      kind.controller.peersFromBelow ? this.#below(kind.controller) : undefined,
    );
    this.#crashLoop.observed(queued, readiness.condition === "Ready");
    this.#status(key, slice, readiness);
    return readiness.recheckAfterMs === undefined ? undefined : { requeueAfterMs: readiness.recheckAfterMs };
  }

  /**
   * Drift seen while the resource is in a crash loop: reported when an engine event revealed it,
   * the resource is Stalled (so the node settles and an apply reports it), and healed later.
   */
  #backOff(
    queued: string,
    key: string,
    slice: SliceDocument,
    report: ReturnType<typeof driftReport>,
    what: string,
  ): ReconcileResult {
    const waitMs = report.healInMs ?? 0;
    if (report.changedAt !== undefined) {
      this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
      this.#metrics.drifted(splitResourceKey(key).kind);
      this.#log(`drift on ${slice.stack}/${key}: ${what} (crash loop: healing in ${waitMs} ms)`);
    }
    this.#crashLoop.observed(queued, false);
    const restarts = this.#crashLoop.restarts(queued);
    this.#status(key, slice, {
      condition: "Stalled",
      reason: "CrashLoopBackOff",
      message:
        `${what}; restarted ${restarts} time${restarts === 1 ? "" : "s"}, ` +
        `next try in ${Math.ceil(waitMs / 1000)} s (${new Date(this.#clock.now() + waitMs).toISOString()})`,
    });
    return { requeueAfterMs: waitMs };
  }

  /** Statuses name the generation that was reconciled, even if a newer slice arrived meanwhile. */
  #status(key: string, slice: SliceDocument, update: StatusUpdate): void {
    this.#statuses.set(key, slice, update);
  }

  #log(line: string): void {
    this.#options.log?.(`[agent ${this.name}] ${line}`);
  }
}

/** `ENGINE_TIMEOUT` → `EngineTimeout`: a stable code read as a condition's reason. */
function camelCase(code: string): string {
  return code
    .toLowerCase()
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");
}

function failureStatus(error: unknown, doing: string): StatusUpdate {
  const code = error instanceof TreescaleError ? error.code : "ENGINE_UNREACHABLE";
  // An engine that refuses, times out or drops the call: one reason a script can test for.
  const reason = code.startsWith("ENGINE_") ? "EngineUnreachable" : camelCase(code);
  return { condition: "Stalled", reason, message: `${doing}: ${errorMessage(error)}` };
}

/** The stack a summary request asks about; none names no stack (the node's parent is still answered). */
function stackAsked(request: Message): string {
  try {
    const body = request.json<{ stack?: unknown }>();
    return typeof body?.stack === "string" ? body.stack : "";
  } catch {
    return "";
  }
}
