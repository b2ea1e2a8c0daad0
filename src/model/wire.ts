// What travels between a node's agent and whoever applies to it: the slice a node is asked to
// run, what it answers about itself, the events it publishes, and the re-parent request. One
// module, so the agent, the fleet operations, the node daemon and clients agree by construction.

export const AGENT_EVENTS = {
  apply: "agent.apply",
  state: "agent.state",
  /** A small answer per stack (generation, settled, statuses not Ready) for callers that wait on a node. */
  summary: "agent.summary",
  status: "agent.status",
  progress: "apply.progress",
  /** An action a node has begun (ProgressStart): with apply.progress, what is under way and what has not started. */
  started: "apply.started",
  /** What a node is about to do for one resource (ApplyPlanned), before its first action begins. */
  planned: "apply.planned",
  drift: "drift",
  /** A node's objects of the kinds that nodes above it plan from (a balancer's backends in its subtree). */
  objects: "agent.objects",
  /** Asks every node to announce its objects now (a node that just started has none of theirs yet). */
  objectsWanted: "agent.objects.wanted",
  /** Asks a node for what a resource's objects on it wrote (`treescale logs`): answered with LogsAnswer. */
  logs: "agent.logs",
  /** Keeps a followed log stream going (its lease), or stops it: answered with { alive }. */
  logsKeep: "agent.logs.keep",
  /** The lines of a log stream, published to its channel (LogsData). */
  logsData: "agent.logs.data",
} as const;

/** What `agent.logs` asks: one resource's output on the node, streamed to the channel of `stream`. */
export type LogsAsk = {
  /** The requester's name for this stream (letters, digits, dashes): its channel is logsChannel(stream). */
  stream: string;
  kind: string;
  resource: string;
  /** Only this stack's objects; absent: every stack's. */
  stack?: string;
  follow: boolean;
  tail?: number;
  /** Unix seconds. */
  since?: number;
  timestamps: boolean;
  /** A followed stream ends when not kept (agent.logs.keep) for this long. */
  leaseMs: number;
};

/** Which of the node's objects the stream reads: `web-1` is replica 1 of web. */
export type LogsAnswer = {
  node: string;
  replicas: { name: string; stack: string; replica: number }[];
};

/** One batch of a log stream; the last one of a node says `end`, with what could not be read. */
export type LogsData = {
  node: string;
  stream: string;
  lines: { replica: string; stream: "stdout" | "stderr"; text: string }[];
  end?: true;
  errors?: { replica: string; message: string }[];
};

export const logsChannel = (stream: string) => `logs.${stream}`;

/** What `agent.objects` carries: who the node is, where it hangs in the tree, where it is reached. */
export type ObjectsAnnouncement = {
  node: string;
  parent: string | null;
  /** The address its parent link leaves from: where the nodes above reach it (absent on a root). */
  address?: string;
  kinds: Record<string, unknown[]>;
};

export const REPARENT_EVENT = "node.reparent";

/** A node's share of one stack: `kind/name` → spec and the replica indices this node runs. */
export type SliceDocument = {
  stack: string;
  generation: number;
  /** Remove owned objects of resources that left the slice (only those in the node's inventory). */
  prune: boolean;
  resources: Record<string, { spec: unknown; replicas: number[] }>;
};

export function emptySlice(stack: string): SliceDocument {
  return { stack, generation: 0, prune: false, resources: {} };
}

export const CONDITIONS = ["Ready", "Reconciling", "Stalled"] as const;
export type ConditionType = (typeof CONDITIONS)[number];

/** Per-resource status as Kubernetes conditions put it. */
export type ResourceStatus = {
  stack: string;
  /** `kind/name`. */
  resource: string;
  node: string;
  condition: ConditionType;
  reason: string;
  message: string;
  observedGeneration: number;
  /** Replicas this node should run, and how many of them are ready. */
  desired: number;
  ready: number;
  since: string;
};

/** A direct child link as its parent sees it: how `get nodes` shows a dead child rather than omitting it. */
export type ChildLink = {
  node: string;
  status: "up" | "down";
  since: string;
  reason?: string;
  /** The child's tags as its parent last knew them: how a plan places for a child that is down. */
  tags?: string[];
};

/** How well a node sees one kind's objects: an engine that does not answer is said, never hidden. */
export type Observation = {
  synced: boolean;
  /** Why the last list failed, while it has not succeeded since. */
  error?: string;
  items: unknown[];
};

export type StackState = {
  slice: SliceDocument;
  settled: boolean;
  /** `kind/name` → the replicas this node recorded as applied. */
  inventory: Record<string, { replicas: number[] }>;
  statuses: ResourceStatus[];
};

/** What every agent answers to `agent.state`. */
export type NodeState = {
  node: string;
  /** The treescale version the node runs (absent from nodes older than this field). */
  version?: string;
  /** How `treescale build` made this node (absent from nodes it did not make). */
  build?: BuildIdentity;
  tags: string[];
  parent?: string;
  /** Its bus listener (host:port), where clients and child nodes reach it. */
  listen?: string;
  children: ChildLink[];
  /** kind → what the node sees of it. */
  observed: Record<string, Observation>;
  stacks: Record<string, StackState>;
};

/** What an agent answers to `agent.summary` for one stack: enough to wait on an apply. */
export type NodeSummary = {
  node: string;
  parent?: string;
  stack: string;
  generation: number;
  settled: boolean;
  /** Statuses that are not Ready (usually none): what a failed or slow apply reports. */
  unready: ResourceStatus[];
  /** Kinds this node cannot observe now, with why (an engine that does not answer). */
  blind: string[];
};

/** What `agent.apply` answers. */
export type ApplyAnswer = { accepted: boolean; generation: number; reason?: string };

/** `agent.status`: published on every status change. */
export type StatusAnnouncement = {
  node: string;
  stack: string;
  generation: number;
  settled: boolean;
  status: ResourceStatus;
};

export type DriftReport = {
  node: string;
  stack: string;
  /** `kind/name`. */
  resource: string;
  generation: number;
  differences: { action: string; target: string; reason: string }[];
  /** When the engine saw the change (ISO), when the agent noticed it, and the gap in ms. */
  changedAt?: string;
  detectedAt: string;
  detectionMs?: number;
  healing: boolean;
  /** The resource is in a crash loop: it is healed after this wait, not at once. */
  healInMs?: number;
};

export type ProgressReport = {
  node: string;
  stack: string;
  generation: number;
  /** `kind/name`. */
  resource: string;
  target: string;
  action: string;
  /** The replica acted on, for kinds that run replicas (containers). */
  replica?: number;
  ok: boolean;
  error?: string;
  /** A failure the agent will try again (the resource may still converge): not a final one. */
  retrying?: boolean;
};

/** An action a node has begun; its end follows as a ProgressReport with the same target and action. */
export type ProgressStart = Pick<
  ProgressReport,
  "node" | "stack" | "generation" | "resource" | "target" | "action" | "replica"
>;

/**
 * One action of a node's plan: the same `action` and `target` as its apply.started and apply.progress;
 * `changes` are the fields it changes as the CLI's plan prints them (`~ env.MODE: "1" → "2"`).
 */
export type PlannedStep = {
  action: string;
  target: string;
  reason: string;
  replica?: number;
  changes?: string[];
};

/**
 * `apply.planned`: every action a node is about to take for one resource (a rollout's later waves
 * included), published before the first begins; `drift` when it heals a change nobody asked for.
 */
export type ApplyPlanned = {
  node: string;
  stack: string;
  generation: number;
  /** `kind/name`. */
  resource: string;
  drift: boolean;
  actions: PlannedStep[];
};

/** What a child is sent: the name and address of the parent it should dial. */
export type ReparentRequest = { parent: string; host: string; port: number };

/** Blind kinds of a node (of `only`, when given), as a sentence per kind. */
export function blindKinds(
  observed: Readonly<Record<string, Observation>>,
  only?: ReadonlySet<string>,
): string[] {
  return Object.entries(observed).flatMap(([kind, o]) =>
    (o.synced && o.error === undefined) || (only !== undefined && !only.has(kind))
      ? []
      : [`${kind}: ${o.error ?? "has not listed its objects yet"}`],
  );
}

/**
 * How a node made by `treescale build` says it was made (src/model/build-identity.ts computes it). Kept
 * here, with the rest of the wire, so that a browser's client type-checks without Node's modules.
 */
export type BuildIdentity = {
  /** The build hash this node's container was created with. */
  id: string;
  /** filesDigest of the files named on its command line, read when it answered. */
  files: string;
};
