// The page's live picture of the tree below the node it is connected to: node states gathered with
// agent.state (all at start and every few seconds, one node at once when its events say it changed),
// link events, drift, apply progress and container stats. Views subscribe to one topic each and are
// told only when that topic changed, so one event never re-renders the whole page.
import type { Message, Target } from "../bus/client/browser.js";
import { IMAGE_PROGRESS_EVENT, type ImageProgress } from "../model/image-progress.js";
import type { ObservedContainer } from "../model/observed.js";
import { CONTAINER_STATS_EVENT, type ContainerStatsPayload } from "../model/usage.js";
import {
  AGENT_EVENTS,
  type ApplyPlanned,
  type DriftReport,
  type NodeState,
  type ProgressReport,
  type ProgressStart,
  type StatusAnnouncement,
} from "../model/wire.js";
import {
  type ApplyRecord,
  applyKey,
  newApply,
  withOutcome,
  withPlan,
  withStart,
  withStatus,
} from "./applies.js";
import { type ImagePush, withImageProgress } from "./image-pushes.js";
import { StatsHistory } from "./stats-history.js";
import {
  type LinkEvent,
  lastFailure,
  type NodeDown,
  type NodeRow,
  type NodeUp,
  treeRows,
} from "./tree-status.js";

/** The part of the bus client the page uses (BusClient has it). */
export interface DashboardBus {
  /** The node the page is connected to (from READY). */
  readonly node: string;
  requestMany(
    event: string,
    target: Target,
    payload?: string,
    timeoutMs?: number,
    max?: number,
    enough?: (replies: readonly Message[]) => boolean,
  ): Promise<Message[]>;
  subscribe(declaration: { events: string[] }): Promise<void>;
  onMessage(listener: (message: Message) => void): () => void;
}

export const STATS_EVENT = CONTAINER_STATS_EVENT;
/** Events the page always listens to. */
export const LIVE_EVENTS = [
  "node.up",
  "node.down",
  AGENT_EVENTS.drift,
  AGENT_EVENTS.planned,
  AGENT_EVENTS.started,
  AGENT_EVENTS.progress,
  AGENT_EVENTS.status,
  IMAGE_PROGRESS_EVENT,
] as const;

/** `statsErrors`: which nodes cannot give stats changed; each container's figures have their own listeners. */
export type Topic =
  | "tree"
  | "containers"
  | "balancers"
  | "events"
  | "resources"
  | "statsErrors"
  | "images"
  | "problems";

export type StoreOptions = {
  /** How long a gather waits for answers. */
  gatherMs?: number;
  /** Full gathers this often, besides those events cause. */
  refreshMs?: number;
  now?: () => number;
};

const MAX_DRIFT = 200;
const MAX_APPLIES = 20;

export class FleetStore {
  readonly stats = new StatsHistory();
  rows: NodeRow[] = [];
  failure: NodeDown | undefined;
  drift: DriftReport[] = [];
  applies: ApplyRecord[] = [];
  /** The last image pushes, newest first, with each receiving node's last report. */
  pushes: ImagePush[] = [];
  /** What went wrong talking to the tree (a gather refused, for one), newest last. */
  problems: string[] = [];
  /** Nodes whose last stats said they cannot see their engine, with why. */
  statsErrors = new Map<string, string>();
  /** Containers per node, each object kept while its content is unchanged (rows compare by identity). */
  containers = new Map<string, readonly ObservedContainer[]>();

  #answered = new Map<string, NodeState>();
  readonly #lastKnown = new Map<string, NodeState>();
  readonly #links = new Map<string, LinkEvent & { receivedAt: number }>();
  #gatheredAt = 0;
  readonly #listeners = new Map<Topic, Set<() => void>>();
  readonly #statsListeners = new Map<string, Set<() => void>>();
  readonly #pendingNodes = new Set<string>();
  #nodeTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #gathering: Promise<void> | undefined;
  #watchingStats = false;
  readonly #gatherMs: number;
  readonly #refreshMs: number;
  readonly #now: () => number;
  #stopListening: (() => void) | undefined;

  constructor(
    private readonly bus: DashboardBus,
    options: StoreOptions = {},
  ) {
    this.#gatherMs = options.gatherMs ?? 2000;
    this.#refreshMs = options.refreshMs ?? 5000;
    this.#now = options.now ?? Date.now;
  }

  /** Listens, gathers once, and keeps gathering; resolves after the first gather. */
  async start(): Promise<void> {
    this.#stopListening = this.bus.onMessage((message) => this.#receive(message));
    this.#refreshTimer = setInterval(() => void this.refresh(), this.#refreshMs);
    await this.refresh();
  }

  stop(): void {
    this.#stopListening?.();
    clearInterval(this.#refreshTimer);
    clearTimeout(this.#nodeTimer);
  }

  on(topic: Topic, listener: () => void): () => void {
    const set = this.#listeners.get(topic) ?? new Set();
    this.#listeners.set(topic, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Told when this container's figures change: a snapshot of 500 containers a second redraws only the
   * rows that listen (those on screen), not the whole view.
   */
  onContainerStats(name: string, listener: () => void): () => void {
    const set = this.#statsListeners.get(name) ?? new Set();
    this.#statsListeners.set(name, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#statsListeners.delete(name);
    };
  }

  /** Asks every node for its state (one gather at a time; a second call joins the one under way). */
  refresh(): Promise<void> {
    this.#gathering ??= this.#gatherAll().finally(() => {
      this.#gathering = undefined;
    });
    return this.#gathering;
  }

  /** Stats are sampled by the nodes only while someone subscribes: the containers view turns them on. */
  async watchStats(on: boolean): Promise<void> {
    if (on === this.#watchingStats) return;
    this.#watchingStats = on;
    await this.bus.subscribe({ events: on ? [...LIVE_EVENTS, STATS_EVENT] : [...LIVE_EVENTS] });
  }

  /** Every answer this node has given last (for the resource view), by node. */
  states(): NodeState[] {
    return this.rows.flatMap((row) => (row.state ? [row.state] : []));
  }

  async #gatherAll(): Promise<void> {
    const began = this.#now();
    let replies: Message[];
    try {
      replies = await this.bus.requestMany(
        AGENT_EVENTS.state,
        {},
        undefined,
        this.#gatherMs,
        undefined,
        (so) => wholeTree(this.bus.node, so.map(stateOf)),
      );
    } catch (error) {
      // no_responders: nothing with an agent answers below this node. Anything else is said.
      if ((error as { code?: string }).code !== "no_responders")
        this.#problem(`gathering state: ${message(error)}`);
      replies = [];
    }
    this.#gatheredAt = began;
    this.#answered = new Map(replies.map((reply) => [stateOf(reply).node, stateOf(reply)]));
    this.#absorb([...this.#answered.values()]);
  }

  async #gatherNodes(names: string[]): Promise<void> {
    const answers = await Promise.all(
      names.map(async (node) => {
        try {
          const [reply] = await this.bus.requestMany(
            AGENT_EVENTS.state,
            { node },
            undefined,
            this.#gatherMs,
            1,
          );
          return { node, state: reply ? stateOf(reply) : undefined };
        } catch {
          return { node, state: undefined };
        }
      }),
    );
    for (const { node, state } of answers) {
      if (state) this.#answered.set(node, state);
      else this.#answered.delete(node);
    }
    this.#absorb(answers.flatMap((a) => (a.state ? [a.state] : [])));
  }

  /** Takes new answers in; tells each topic that changed. */
  #absorb(states: NodeState[]): void {
    let containersChanged = false;
    for (const state of states) {
      this.#lastKnown.set(state.node, state);
      const next = keepIdentity(
        this.containers.get(state.node) ?? [],
        (state.observed.container?.items ?? []) as ObservedContainer[],
      );
      if (next !== this.containers.get(state.node)) {
        this.containers.set(state.node, next);
        containersChanged = true;
      }
    }
    this.#rebuildTree();
    if (containersChanged) this.#emit("containers");
    this.#emit("balancers");
    this.#emit("resources");
  }

  #rebuildTree(): void {
    this.rows = treeRows({
      answered: this.#answered,
      lastKnown: this.#lastKnown,
      links: this.#links,
      gatheredAt: this.#gatheredAt,
    });
    this.failure = lastFailure(this.#links);
    this.#emit("tree");
  }

  #receive(message: Message): void {
    switch (message.event) {
      case "node.down":
      case "node.up": {
        const kind = message.event === "node.down" ? "down" : "up";
        const event = message.json<NodeDown | NodeUp>();
        this.#links.set(event.node, { kind, event, receivedAt: this.#now() } as LinkEvent & {
          receivedAt: number;
        });
        if (kind === "down") this.#answered.delete(event.node);
        this.#rebuildTree();
        // A node that came (back) has a subtree to learn; one that left changes its parent's answer.
        this.#soon(kind === "up" ? [event.node, event.parent] : [event.parent]);
        return;
      }
      case AGENT_EVENTS.drift: {
        const report = message.json<DriftReport>();
        this.drift = [report, ...this.drift].slice(0, MAX_DRIFT);
        this.#emit("events");
        this.#soon([report.node]);
        return;
      }
      case AGENT_EVENTS.planned: {
        const plan = message.json<ApplyPlanned>();
        this.#updateApply(plan, (record, now) => withPlan(record, plan, now));
        return;
      }
      case AGENT_EVENTS.started: {
        const start = message.json<ProgressStart>();
        this.#updateApply(start, (record, now) => withStart(record, start, now));
        return;
      }
      case AGENT_EVENTS.progress: {
        const report = message.json<ProgressReport>();
        this.#updateApply(report, (record, now) => withOutcome(record, report, now));
        this.#soon([report.node]);
        return;
      }
      case AGENT_EVENTS.status: {
        const status = message.json<StatusAnnouncement>();
        // Only an apply the page saw begin: a status of a generation applied before it opened is not one.
        const record = this.applies.find(
          (a) => a.key === applyKey(status.node, status.stack, status.generation),
        );
        if (record) {
          this.#replaceApply(withStatus(record, status, this.#now()));
          this.#emit("events");
        }
        this.#soon([status.node]);
        return;
      }
      case IMAGE_PROGRESS_EVENT: {
        this.pushes = withImageProgress(this.pushes, message.json<ImageProgress>(), this.#now());
        this.#emit("images");
        return;
      }
      case STATS_EVENT: {
        if (!this.#watchingStats) return;
        const payload = message.json<ContainerStatsPayload>();
        // An engine the node cannot see sends no rows: said per node, never read as "no containers".
        const said = this.statsErrors.get(payload.node);
        if (payload.error === undefined) this.statsErrors.delete(payload.node);
        else this.statsErrors.set(payload.node, payload.error);
        if (said !== payload.error) this.#emit("statsErrors");
        for (const name of this.stats.add(payload))
          for (const listener of this.#statsListeners.get(name) ?? []) listener();
        return;
      }
      default:
        return;
    }
  }

  #updateApply(
    at: { node: string; stack: string; generation: number },
    update: (record: ApplyRecord, now: number) => ApplyRecord,
  ): void {
    const now = this.#now();
    const key = applyKey(at.node, at.stack, at.generation);
    const record = this.applies.find((a) => a.key === key) ?? newApply(at.node, at.stack, at.generation, now);
    this.#replaceApply(update(record, now));
    this.#emit("events");
  }

  #replaceApply(record: ApplyRecord): void {
    this.applies = [record, ...this.applies.filter((a) => a.key !== record.key)]
      .sort((a, b) => b.lastAt - a.lastAt)
      .slice(0, MAX_APPLIES);
  }

  /** Gathers these nodes again shortly: a burst of events costs one request per node. */
  #soon(nodes: string[]): void {
    for (const node of nodes) this.#pendingNodes.add(node);
    if (this.#nodeTimer !== undefined) return;
    this.#nodeTimer = setTimeout(() => {
      this.#nodeTimer = undefined;
      const names = [...this.#pendingNodes];
      this.#pendingNodes.clear();
      void this.#gatherNodes(names);
    }, 150);
  }

  #problem(text: string): void {
    this.problems = [...this.problems.slice(-9), `${new Date(this.#now()).toISOString()} ${text}`];
    this.#emit("problems");
  }

  #emit(topic: Topic): void {
    for (const listener of this.#listeners.get(topic) ?? []) listener();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Each reply is parsed once, however often a gather's check looks at it. */
const parsed = new WeakMap<Message, NodeState>();
function stateOf(reply: Message): NodeState {
  let state = parsed.get(reply);
  if (!state) {
    state = reply.json<NodeState>();
    parsed.set(reply, state);
  }
  return state;
}

/** The node connected to and every child an answer reports linked have answered: the gather can end. */
function wholeTree(self: string, states: readonly NodeState[]): boolean {
  const answered = new Set(states.map((s) => s.node));
  return (
    answered.has(self) &&
    states.every((s) => s.children.every((child) => child.status !== "up" || answered.has(child.node)))
  );
}

/**
 * The new list, with each container that did not change kept as the object the views already hold,
 * and the previous array itself when nothing changed: a view re-renders only what differs.
 */
export function keepIdentity(
  previous: readonly ObservedContainer[],
  next: readonly ObservedContainer[],
): readonly ObservedContainer[] {
  const byId = new Map(previous.map((c) => [c.id, { container: c, text: JSON.stringify(c) }]));
  let same = previous.length === next.length;
  const kept = next.map((container, index) => {
    const old = byId.get(container.id);
    if (old && old.text === JSON.stringify(container)) {
      if (previous[index] !== old.container) same = false;
      return old.container;
    }
    same = false;
    return container;
  });
  return same ? previous : kept;
}
