// A FleetBus with scripted agents behind it: each answers state, summary and apply requests as a
// real agent would (one book per stack), announces `agent.status` when it settles, and records
// what it was asked.
import type { Message, Payload } from "../../../src/bus/message.js";
import type { Target } from "../../../src/bus/protocol/frames.js";
import type { FleetBus } from "../../../src/fleet/fleet-bus.js";
import {
  blindKinds,
  emptySlice,
  type NodeState,
  type NodeSummary,
  type ResourceStatus,
  type SliceDocument,
  type StackState,
  type StatusAnnouncement,
} from "../../../src/model/wire.js";

export { nodeState } from "../../support/node-state.js";

export type FakeAgent = {
  state: NodeState;
  /** Answers nothing at all (a node that is down). */
  silent?: boolean;
  /** Answers state requests only from this call on (1-based): a node that is slow to answer. */
  answersFromCall?: number;
  /** How each resource (`kind/name`) of a taken slice ends up (default Ready). */
  verdict?(slice: SliceDocument): Partial<Record<string, Pick<ResourceStatus, "condition" | "reason">>>;
  /** Settles this long after taking a slice (default at once). */
  settleAfterMs?: number;
};

export type Request = { event: string; target: Target; timeoutMs: number; max?: number };

export class FakeFleetBus implements FleetBus {
  readonly requests: Request[] = [];
  /** What happened, in order: "apply c1 g5", "settled c1 g5". */
  readonly log: string[] = [];
  readonly #listeners = new Set<{ events: Set<string>; handler: (message: Message) => void }>();
  #stateCalls = 0;

  constructor(readonly agents: Record<string, FakeAgent>) {}

  async requestMany(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs: number,
    max?: number,
  ): Promise<Message[]> {
    this.requests.push({ event, target, timeoutMs, ...(max !== undefined ? { max } : {}) });
    if (event === "agent.state") this.#stateCalls += 1;
    const answering = Object.values(this.agents).filter(
      (agent) =>
        !agent.silent &&
        (target.node === undefined || agent.state.node === target.node) &&
        (event !== "agent.state" || this.#stateCalls >= (agent.answersFromCall ?? 1)),
    );
    const replies = answering.map((agent) => this.#answer(agent, event, payload));
    return replies.slice(0, max ?? replies.length);
  }

  async listen(events: string[], handler: (message: Message) => void): Promise<() => void> {
    const listener = { events: new Set(events), handler };
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {}

  /** The requests of this event made so far. */
  asked(event: string): Request[] {
    return this.requests.filter((r) => r.event === event);
  }

  #answer(agent: FakeAgent, event: string, payload: Payload | undefined): Message {
    const { state } = agent;
    switch (event) {
      case "agent.state":
        return message(event, state.node, state);
      case "agent.summary": {
        const { stack } = JSON.parse(String(payload)) as { stack: string };
        const book = state.stacks[stack];
        const summary: NodeSummary = {
          node: state.node,
          ...(state.parent !== undefined ? { parent: state.parent } : {}),
          stack,
          generation: book?.slice.generation ?? 0,
          settled: book?.settled ?? true,
          unready: (book?.statuses ?? []).filter((s) => s.condition !== "Ready"),
          blind: blindKinds(state.observed),
        };
        return message(event, state.node, summary);
      }
      case "agent.apply": {
        const slice = JSON.parse(String(payload)) as SliceDocument;
        this.log.push(`apply ${state.node} g${slice.generation}`);
        const book: StackState = state.stacks[slice.stack] ?? {
          slice: emptySlice(slice.stack),
          settled: true,
          inventory: {},
          statuses: [],
        };
        state.stacks[slice.stack] = { ...book, slice, settled: false };
        const settle = () => this.#settle(agent, slice);
        if (agent.settleAfterMs === undefined) settle();
        else setTimeout(settle, agent.settleAfterMs);
        return message(event, state.node, { accepted: true, generation: slice.generation });
      }
      default:
        throw new Error(`the fake bus does not know ${event}`);
    }
  }

  #settle(agent: FakeAgent, slice: SliceDocument): void {
    const { state } = agent;
    const verdict = agent.verdict?.(slice) ?? {};
    const statuses: ResourceStatus[] = Object.entries(slice.resources).map(([resource, entry]) => ({
      stack: slice.stack,
      resource,
      node: state.node,
      condition: verdict[resource]?.condition ?? "Ready",
      reason: verdict[resource]?.reason ?? "Converged",
      message: "",
      observedGeneration: slice.generation,
      desired: entry.replicas.length,
      ready: 0,
      since: "",
    }));
    const inventory = Object.fromEntries(
      Object.entries(slice.resources)
        .filter(([, entry]) => entry.replicas.length > 0)
        .map(([resource, entry]) => [resource, { replicas: [...entry.replicas] }]),
    );
    state.stacks[slice.stack] = { slice, settled: true, inventory, statuses };
    this.log.push(`settled ${state.node} g${slice.generation}`);
    // A real agent announces on every status change; one announcement per settle is what the wait needs.
    const [status] = statuses;
    if (!status) return;
    const announcement: StatusAnnouncement = {
      node: state.node,
      stack: slice.stack,
      generation: slice.generation,
      settled: true,
      status,
    };
    for (const listener of this.#listeners)
      if (listener.events.has("agent.status"))
        listener.handler(message("agent.status", state.node, announcement));
  }
}

function message(event: string, origin: string, body: unknown): Message {
  const text = JSON.stringify(body);
  return {
    kind: "publish",
    event,
    origin,
    target: {},
    data: new TextEncoder().encode(text),
    text: () => text,
    json: <T>() => JSON.parse(text) as T,
  };
}
