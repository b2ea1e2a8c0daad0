// What the nodes below this one observe of the kinds a kind here plans from: each node announces its
// objects of those kinds on the bus when they change (and every so often, and when asked), with its
// parent and the address it is reached at; a node keeps the announcements of its own subtree. A
// balancer spreads traffic over containers on child servers this way.
import type { Message } from "../bus/message.js";
import { errorMessage } from "../errors.js";
import { AGENT_EVENTS, type ObjectsAnnouncement } from "../model/wire.js";
import type { NodeController, ObservedObject, PeersBelow } from "../reconcile/controller.js";
import type { Clock } from "../util/clock.js";

export type SubtreeBus = {
  publish(event: string, payload?: string): void;
  subscribe(event: string, handler: (message: Message) => void): () => void;
};

export type SubtreePeersOptions = {
  node: string;
  controllers: readonly NodeController[];
  bus: SubtreeBus;
  clock: Clock;
  parent: () => string | undefined;
  /** Where the nodes above reach this one. */
  address: () => string | undefined;
  items: (kind: string) => readonly ObservedObject[];
  /** Objects of `kinds` changed below: re-plan what depends on them. */
  changed: (kinds: readonly string[]) => void;
  log: (line: string) => void;
};

/** Announced this often even without a change, so a lost announcement heals and silence means gone. */
const REANNOUNCE_MS = 10_000;
/** A node not heard from for this long is no longer counted: its objects are not reachable as far as we know. */
const FORGET_MS = 35_000;
/** Changes in a burst (a rollout) go out as one announcement. */
const COALESCE_MS = 100;

type Heard = ObjectsAnnouncement & { at: number };

export class SubtreePeers {
  /** The kinds this node's objects are announced for: what some kind plans from below. */
  readonly #shared: string[];
  /** Whether any kind here plans from below, so announcements are listened to. */
  readonly #listens: boolean;
  readonly #heard = new Map<string, Heard>();
  readonly #stops: (() => void)[] = [];
  #listening: (() => void)[] | undefined;
  #timer: unknown;
  #pending: unknown;
  #stopped = false;

  constructor(private readonly options: SubtreePeersOptions) {
    const below = options.controllers.filter((c) => c.peersFromBelow);
    this.#shared = [...new Set(below.flatMap((c) => c.dependsOn ?? []))];
    this.#listens = below.length > 0;
  }

  start(): void {
    if (this.#shared.length === 0) return;
    this.#stops.push(this.options.bus.subscribe(AGENT_EVENTS.objectsWanted, () => this.changed()));
    this.#schedule();
  }

  /**
   * Listens to the nodes below only while this node runs a kind that plans from them: routing then
   * carries announcements only towards the nodes that hold a balancer, not to the whole tree.
   */
  listen(wanted: boolean): void {
    if (!this.#listens || this.#stopped || wanted === (this.#listening !== undefined)) return;
    if (!wanted) {
      for (const stop of this.#listening ?? []) stop();
      this.#listening = undefined;
      this.#heard.clear();
      return;
    }
    const { bus } = this.options;
    this.#listening = [
      bus.subscribe(AGENT_EVENTS.objects, (message) => this.#hear(message)),
      bus.subscribe("node.down", (message) => this.#down(message)),
    ];
    bus.publish(AGENT_EVENTS.objectsWanted, JSON.stringify({ node: this.options.node }));
  }

  stop(): void {
    this.#stopped = true;
    for (const stop of [...this.#stops.splice(0), ...(this.#listening ?? [])]) stop();
    this.#listening = undefined;
    if (this.#timer !== undefined) this.options.clock.clearTimeout(this.#timer);
    if (this.#pending !== undefined) this.options.clock.clearTimeout(this.#pending);
  }

  /** This node's objects of a shared kind changed: announce them (coalesced). */
  changed(kind?: string): void {
    if (this.#stopped || this.#shared.length === 0) return;
    if (kind !== undefined && !this.#shared.includes(kind)) return;
    this.#pending ??= this.options.clock.setTimeout(() => {
      this.#pending = undefined;
      this.#announce();
    }, COALESCE_MS);
  }

  /** The objects of `kind` on every node of this node's subtree (not this node's own). */
  below(kind: string): PeersBelow[] {
    const now = this.options.clock.now();
    const children = new Map<string, string[]>();
    for (const heard of this.#heard.values()) {
      if (now - heard.at > FORGET_MS || heard.parent === null) continue;
      children.set(heard.parent, [...(children.get(heard.parent) ?? []), heard.node]);
    }
    const found: PeersBelow[] = [];
    const seen = new Set([this.options.node]);
    const queue = [...(children.get(this.options.node) ?? [])];
    while (queue.length > 0) {
      const node = queue.shift() as string;
      if (seen.has(node)) continue;
      seen.add(node);
      const heard = this.#heard.get(node);
      if (!heard) continue;
      found.push({
        node,
        address: heard.address,
        items: (heard.kinds[kind] ?? []) as ObservedObject[],
      });
      queue.push(...(children.get(node) ?? []));
    }
    return found;
  }

  #announce(): void {
    const address = this.options.address();
    const announcement: ObjectsAnnouncement = {
      node: this.options.node,
      parent: this.options.parent() ?? null,
      ...(address ? { address } : {}),
      kinds: Object.fromEntries(this.#shared.map((kind) => [kind, [...this.options.items(kind)]])),
    };
    this.options.bus.publish(AGENT_EVENTS.objects, JSON.stringify(announcement));
  }

  #hear(message: Message): void {
    const heard = readJson<ObjectsAnnouncement>(message, (error) =>
      this.options.log(`ignored an unreadable ${AGENT_EVENTS.objects}: ${errorMessage(error)}`),
    );
    if (typeof heard?.node !== "string" || heard.node === this.options.node) return;
    // A node speaks for itself only: what a client attached to node X publishes enters the tree at X.
    if (message.origin !== heard.node) return;
    if (typeof heard.kinds !== "object" || heard.kinds === null) return;
    this.#heard.set(heard.node, { ...heard, at: this.options.clock.now() });
    this.options.changed(Object.keys(heard.kinds));
  }

  #down(message: Message): void {
    const node = readJson<{ node?: unknown }>(message, () => {})?.node;
    if (typeof node !== "string" || !this.#heard.delete(node)) return;
    this.options.changed(this.#shared);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.options.clock.setTimeout(() => {
      this.#announce();
      // Forgetting is judged on the same beat: a node gone silent stops counting within FORGET_MS + REANNOUNCE_MS.
      if (this.#listening) this.options.changed(this.#shared);
      this.#schedule();
    }, REANNOUNCE_MS);
  }
}

function readJson<T>(message: Message, onError: (error: unknown) => void): T | undefined {
  try {
    return message.json<T>();
  } catch (error) {
    onError(error);
    return undefined;
  }
}
