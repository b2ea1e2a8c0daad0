// A node's agent, as kubelet is for a Kubernetes node: it converges its own slice against its own
// engine and keeps doing so — after restarts (the slice is on disk) and when cut off from the tree.
// Changes nobody asked for are reported as `drift` and, unless told otherwise, healed.
import { type ActionOutcome, executeContainerPlan, type ProgressSink } from "../../controllers/container.js";
import type { Message, Payload } from "../bus/message.js";
import type { ContainerEngine, EngineEventSource } from "../drivers/engine.js";
import { errorMessage } from "../errors.js";
import type { ObservedContainer } from "../model/observed.js";
import type { ContainerAction } from "../plan/actions.js";
import { planNode } from "../plan/container-plan.js";
import { type LastApplied, LastAppliedStore } from "../state/last-applied.js";
import { type Clock, systemClock } from "../util/clock.js";
import { ContainerInformer } from "./container-informer.js";
import { EMPTY_SLICE, type SliceDocument, SliceStore } from "./slice.js";
import type { ChildLink, NodeState, ResourceStatus } from "./status.js";
import { type ReconcileResult, TerminalError, WorkQueue } from "./work-queue.js";

/** The part of the bus an agent uses: answer requests, publish events. */
export interface AgentBus {
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void;
  publish(event: string, payload?: Payload): void;
}

export const AGENT_EVENTS = {
  apply: "agent.apply",
  state: "agent.state",
  status: "agent.status",
  progress: "apply.progress",
  drift: "drift",
} as const;

export type DriftReport = {
  node: string;
  resource: string;
  generation: number;
  differences: { action: ContainerAction["type"]; container: string; reason: string }[];
  /** When the engine saw the change (ISO), when the agent noticed it, and the gap in ms. */
  changedAt?: string;
  detectedAt: string;
  detectionMs?: number;
  healing: boolean;
};

export type ProgressReport = {
  node: string;
  generation: number;
  resource: string;
  container: string;
  action: ContainerAction["type"];
  ok: boolean;
  error?: string;
};

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

const HEALTH_POLL_MS = 500;

export class NodeAgent {
  readonly name: string;
  readonly #options: NodeAgentOptions;
  readonly #clock: Clock;
  readonly #sliceStore: SliceStore;
  readonly #inventoryStore: LastAppliedStore;
  readonly #informer: ContainerInformer;
  readonly #queue: WorkQueue;
  readonly #statuses = new Map<string, ResourceStatus>();
  /** Generation at which each resource last matched its spec: a mismatch at the same generation is drift. */
  readonly #convergedAt = new Map<string, number>();
  readonly #unsubscribe: (() => void)[] = [];
  #slice: SliceDocument = EMPTY_SLICE;
  #inventory: LastApplied = { generation: 0, appliedAt: "", inventory: {} };
  #inventoryWrite: Promise<void> = Promise.resolve();
  #changedAt = new Map<string, number>();
  #resyncTimer: unknown;

  constructor(options: NodeAgentOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#sliceStore = new SliceStore(options.home, options.name);
    this.#inventoryStore = new LastAppliedStore(options.home, options.name);
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
    [this.#slice, this.#inventory] = await Promise.all([
      this.#sliceStore.read(),
      this.#inventoryStore.read(),
    ]);
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
    for (const [resource, status] of this.#statuses) {
      if (!document.containers[resource]) this.#statuses.delete(resource);
      else
        this.#statuses.set(resource, {
          ...status,
          condition: "Reconciling",
          reason: "NewGeneration",
          message: "waiting to reconcile",
        });
    }
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
      statuses: [...this.#statuses.values()],
      inventory: this.#inventory.inventory,
      slice: this.#slice,
    };
  }

  /** Every resource of the slice is Ready or Stalled at the current generation. */
  settled(): boolean {
    return Object.keys(this.#slice.containers).every((resource) => {
      const status = this.#statuses.get(resource);
      return (
        status !== undefined &&
        status.observedGeneration === this.#slice.generation &&
        status.condition !== "Reconciling"
      );
    });
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
    const generation = slice.generation;
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

    if (plan.actions.length === 0) return this.#settle(resource, generation);

    const drift = this.#convergedAt.get(resource) === generation;
    const heal = this.#options.heal && (entry?.spec.heal ?? true);
    if (drift) this.#reportDrift(resource, generation, plan.actions, changedAt, heal);
    if (drift && !heal) {
      this.#setStatus(
        resource,
        generation,
        "Stalled",
        "DriftNotHealed",
        `drift reported, not healed: ${plan.actions.map((a) => `${a.name} ${a.reason}`).join("; ")}`,
      );
      return undefined;
    }

    this.#setStatus(
      resource,
      generation,
      "Reconciling",
      drift ? "HealingDrift" : "Applying",
      `${plan.actions.length} action(s) in progress`,
    );
    const outcomes = await executeContainerPlan(plan.actions, {
      engine: this.#options.engine,
      progress: this.#progressSink(generation),
      generation,
      concurrency: this.#options.concurrency ?? 8,
      stopTimeoutSeconds: this.#options.stopTimeoutSeconds ?? 10,
    });
    await this.#informer.relist();
    await this.#recordInventory(resource);
    const failures = outcomes.filter((o): o is Extract<ActionOutcome, { ok: false }> => !o.ok);
    if (failures.length > 0) {
      const message = failures.map((f) => `${f.action.name}: ${f.error}`).join("; ");
      const terminal = failures.every((f) =>
        /could not be pulled|not on this engine|No such image/.test(f.error),
      );
      this.#setStatus(
        resource,
        generation,
        terminal ? "Stalled" : "Reconciling",
        terminal ? "ImageUnavailable" : "ActionFailed",
        message,
      );
      if (terminal) throw new TerminalError(message);
      throw new Error(message);
    }
    return this.#settle(resource, generation);
  }

  /** Records the resource's status from what runs now; asks to look again while health checks are pending. */
  #settle(resource: string, generation: number): ReconcileResult {
    const entry = this.#slice.containers[resource];
    void this.#recordInventory(resource);
    if (!entry) {
      this.#statuses.delete(resource);
      return undefined;
    }
    this.#convergedAt.set(resource, generation);
    const wanted = new Set(entry.replicas);
    const containers = this.#informer
      .containers()
      .filter((c) => c.resource === resource && wanted.has(c.replica));
    const checked = entry.spec.healthcheck !== undefined;
    const ready = containers.filter(
      (c) => c.state === "running" && (!checked || c.health === "healthy"),
    ).length;
    if (containers.some((c) => c.health === "unhealthy")) {
      this.#setStatus(
        resource,
        generation,
        "Stalled",
        "Unhealthy",
        `${unhealthyNames(containers)} failing health checks`,
        ready,
      );
      return { requeueAfterMs: HEALTH_POLL_MS * 4 };
    }
    if (ready < wanted.size) {
      this.#setStatus(
        resource,
        generation,
        "Reconciling",
        "WaitingForHealthy",
        `${ready}/${wanted.size} replicas healthy`,
        ready,
      );
      return { requeueAfterMs: HEALTH_POLL_MS };
    }
    this.#setStatus(
      resource,
      generation,
      "Ready",
      "Converged",
      `${ready}/${wanted.size} replicas running`,
      ready,
    );
    return undefined;
  }

  #setStatus(
    resource: string,
    generation: number,
    condition: ResourceStatus["condition"],
    reason: string,
    message: string,
    ready?: number,
  ): void {
    const previous = this.#statuses.get(resource);
    const desired = this.#slice.containers[resource]?.replicas.length ?? 0;
    const unchanged =
      previous?.condition === condition &&
      previous.reason === reason &&
      previous.observedGeneration === generation &&
      previous.message === message;
    if (unchanged) return;
    const status: ResourceStatus = {
      resource,
      node: this.name,
      condition,
      reason,
      message,
      observedGeneration: generation,
      desired,
      ready: ready ?? previous?.ready ?? 0,
      since: new Date(this.#clock.now()).toISOString(),
    };
    this.#statuses.set(resource, status);
    this.#options.bus.publish(
      AGENT_EVENTS.status,
      JSON.stringify({
        node: this.name,
        generation: this.#slice.generation,
        settled: this.settled(),
        status,
      }),
    );
  }

  #reportDrift(
    resource: string,
    generation: number,
    actions: ContainerAction[],
    changedAt: number | undefined,
    healing: boolean,
  ): void {
    const now = this.#clock.now();
    const report: DriftReport = {
      node: this.name,
      resource,
      generation,
      differences: actions.map((a) => ({ action: a.type, container: a.name, reason: a.reason })),
      ...(changedAt !== undefined
        ? { changedAt: new Date(changedAt).toISOString(), detectionMs: Math.max(0, now - changedAt) }
        : {}),
      detectedAt: new Date(now).toISOString(),
      healing,
    };
    this.#options.bus.publish(AGENT_EVENTS.drift, JSON.stringify(report));
    this.#log(
      `drift on ${resource}: ${report.differences.map((d) => `${d.container} ${d.reason}`).join("; ")}${healing ? " (healing)" : ""}`,
    );
  }

  #progressSink(generation: number): ProgressSink {
    return {
      started: () => undefined,
      pulling: () => undefined,
      finished: (outcome) => {
        const report: ProgressReport = {
          node: this.name,
          generation,
          resource: outcome.action.resource,
          container: outcome.action.name,
          action: outcome.action.type,
          ok: outcome.ok,
          ...(outcome.ok ? {} : { error: outcome.error }),
        };
        this.#options.bus.publish(AGENT_EVENTS.progress, JSON.stringify(report));
      },
    };
  }

  /** The node's record of what it owns, kept per resource and written one at a time. */
  #recordInventory(resource: string): Promise<void> {
    const replicas = this.#informer
      .containers()
      .filter((c: ObservedContainer) => c.resource === resource)
      .map((c) => c.replica)
      .sort((a, b) => a - b);
    const known =
      this.#slice.containers[resource] !== undefined || this.#inventory.inventory[resource] !== undefined;
    const inventory = { ...this.#inventory.inventory };
    if (replicas.length > 0 && known) inventory[resource] = { replicas };
    else if (replicas.length === 0 && !this.#slice.containers[resource]) delete inventory[resource];
    else if (replicas.length === 0) inventory[resource] = { replicas: [] };
    this.#inventory = {
      generation: this.#slice.generation,
      appliedAt: new Date(this.#clock.now()).toISOString(),
      inventory,
    };
    const snapshot = this.#inventory;
    this.#inventoryWrite = this.#inventoryWrite
      .then(() => this.#inventoryStore.write(snapshot))
      .catch((error: unknown) => this.#log(`cannot record inventory: ${errorMessage(error)}`));
    return this.#inventoryWrite;
  }

  #log(line: string): void {
    this.#options.log?.(`[agent ${this.name}] ${line}`);
  }
}

function unhealthyNames(containers: readonly ObservedContainer[]): string {
  return containers
    .filter((c) => c.health === "unhealthy")
    .map((c) => c.name)
    .join(", ");
}
