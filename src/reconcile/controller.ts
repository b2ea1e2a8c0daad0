// The one interface every resource kind implements. The agent, the fleet planner, the renderers
// and `get` work through it and a registry the composition root hands in; none of them knows a
// kind by name. A node-scope kind runs in each node's agent against that node's drivers
// (container, balancer); a fleet-scope kind runs where the apply runs (node-link, server).
import type { DesiredState, ServerSpec } from "../model/resources.js";
import type { UsageSnapshot } from "../model/usage.js";
import type { NodeState } from "../model/wire.js";
import type { Clock } from "../util/clock.js";

/** A top-level manifest section a kind adds (see loadManifests' `sections`). */
export type ManifestSection = {
  section: string;
  parse(
    body: unknown,
  ): { ok: true; value: unknown } | { ok: false; issues: { path: (string | number)[]; message: string }[] };
};

/** How a plan line reads, and which count of the plan's summary it adds to. */
export type Effect = "create" | "recreate" | "update" | "remove" | "start";

export type ActionLine = {
  effect: Effect;
  /** `create`, `recreate`, `drain`…: the word in the plan's second column. */
  verb: string;
  /** What is acted on, as people find it: a container's name, a balancer's address. */
  target: string;
  reason: string;
  /** The fields the action changes, old and new value, shown under its line (terraform's `~ env.MODE`). */
  changes?: FieldChange[];
};

/**
 * One changed field, as `env.MODE` from `"a"` to `"b"`; `undefined` is absent (added or removed).
 * A `sensitive` field's values are masked as `(sensitive)` by the kind that plans it, never later.
 */
export type FieldChange = { field: string; from: unknown; to: unknown; sensitive?: boolean };

/** What every planned action carries, whatever its kind. */
export type PlannedAction = {
  kind: string;
  /** Resource name (without the kind). */
  resource: string;
  node: string;
  type: string;
};

/**
 * What a failure means for its resource, as the kind that acted judges it: by default it is retried
 * with backoff (Reconciling); `stalled`: retried, but Stalled meanwhile (the outside does not answer);
 * `terminal`: Stalled and not retried until something changes (a missing image, a kernel without IPVS);
 * `hold`: left as it is until a new slice (a rollout that paused or rolled back).
 */
export type Disposition = "stalled" | "terminal" | "hold";

export type Outcome<A extends PlannedAction = PlannedAction> =
  | { action: A; ok: true; ms: number }
  /** `code` is the stable code of a TreescaleError (IMAGE_UNAVAILABLE, ENGINE_TIMEOUT…). */
  | { action: A; ok: false; error: string; code?: string; disposition?: Disposition; ms: number };

export interface ProgressSink<A extends PlannedAction = PlannedAction> {
  started(action: A): void;
  finished(outcome: Outcome<A>): void;
  /** Something long is under way that is not one action (an image pull): shown on a terminal. */
  activity(text: string): void;
}

/**
 * Something the plan does not act on but says: an owned object no longer declared that this apply
 * leaves alone ("kept"), a link that waits for its node ("pending").
 */
export type PlanNote = {
  kind: string;
  node: string;
  resource: string;
  verb: string;
  target: string;
  reason: string;
};

/** A declared resource that no node can run, with why (e.g. no server matches its placement). */
export type Unschedulable = { kind: string; resource: string; reason: string };

/** A node's share of one resource: its spec and the replica indices this node runs (`[1]` for single ones). */
export type SliceEntry<Spec = unknown> = { spec: Spec; replicas: number[] };

/** What a node recorded as applied, per resource name of one kind and stack. Prune acts only on these. */
export type Inventory = Readonly<Record<string, { replicas: readonly number[] }>>;

/** Whatever a node-scope kind observes carries where it belongs, and its identity where it has one (a container's ID). */
export type ObservedObject = { stack: string; resource: string; replica: number; id?: string };

/** A node below this one in the tree, its objects of one kind, and the address it is reached at. */
export type PeersBelow = { node: string; address: string | undefined; items: readonly ObservedObject[] };

export type NodePlanInput<Spec, Observed> = {
  node: string;
  stack: string;
  /** This kind's entries in the node's slice of the stack. */
  entries: Readonly<Record<string, SliceEntry<Spec>>>;
  /** This kind's owned objects on the node, of this stack only. */
  observed: readonly Observed[];
  inventory: Inventory;
  /** This kind's entries in the slice the node holds now: what a change is from, for the plan's values. */
  held?: Readonly<Record<string, SliceEntry<Spec>>>;
  prune: boolean;
  /** Plan only this resource (an agent reconciles one key at a time). */
  only?: string;
  /** What the node observes of the kinds this one depends on (a balancer's backends are containers). */
  peers?: Readonly<Record<string, readonly ObservedObject[]>>;
  /**
   * Those kinds' objects being released (out of `peers`, still there): what a plan may keep using
   * while nothing in `peers` replaces them yet, so a balancer never dispatches to nothing.
   */
  leaving?: Readonly<Record<string, readonly ObservedObject[]>>;
  /** The same kinds' objects on the nodes of this node's subtree, for a kind with `peersFromBelow`. */
  below?: Readonly<Record<string, readonly PeersBelow[]>>;
};

export type NodePlan<A> = {
  actions: A[];
  notes: PlanNote[];
  unchanged: number;
  /**
   * Objects in transition the plan would otherwise act on (a container the engine is removing):
   * the agent waits for them to settle, up to a grace period, before acting.
   */
  transient?: string[];
};

export type Readiness = {
  condition: "Ready" | "Reconciling" | "Stalled";
  reason: string;
  message: string;
  ready: number;
  /** Look again after this long: health checks are still deciding. */
  recheckAfterMs?: number;
};

export type Placement = {
  /** resource name → node name → replica indices. */
  shares: Map<string, Map<string, number[]>>;
  unschedulable: Unschedulable[];
};

export type NodeInfo = { name: string; tags: readonly string[] };

/** What `get` knows besides a kind's own objects: each node's objects of other kinds, and its slices. */
export type RowContext = {
  /** A node's observed objects of `kind`. */
  peers(node: string, kind: string): readonly ObservedObject[];
  /** The slice entry a node holds for `kind/name` in `stack`. */
  entry(node: string, stack: string, kind: string, name: string): SliceEntry | undefined;
};

/** Keeps a node's view of one kind's owned objects current. */
export interface Observer<Observed> {
  /** Resolves after the first successful list (rejects when it fails: the observer keeps trying). */
  start(): Promise<void>;
  stop(): void;
  relist(): Promise<void>;
  /** A list has succeeded since the start. */
  readonly synced: boolean;
  /** Why the last list failed, while it has not succeeded since. */
  readonly error: string | undefined;
  items(): Observed[];
}

export type ObserveContext = {
  node: string;
  clock: Clock;
  /** Aborted when the node stops: a list under way ends at once. */
  signal: AbortSignal;
  /** Resources whose objects changed, with the engine time of the event that revealed it (ms). */
  onChange(changed: readonly { stack: string; resource: string }[], eventAt: number | undefined): void;
  onError(message: string): void;
};

export type ExecuteContext<A extends PlannedAction> = {
  node: string;
  stack: string;
  generation: number;
  progress: ProgressSink<A>;
  /** Aborted when the node stops: calls under way end at once. */
  signal: AbortSignal;
  /** What the resources of these actions ran before this generation, for a rollback. */
  previous: Readonly<Record<string, SliceEntry>>;
  /**
   * Takes objects about to be stopped (by ID) out of what the kinds depending on this one send them
   * (a balancer's dispatch) and waits until those have let go: connections ended or drain time over.
   * Resolves with `readmit`, for when the stop did not happen after all. Objects that are gone are
   * forgotten on their own.
   */
  release(ids: readonly string[]): Promise<() => void>;
};

/** The node a kind's acting half runs on: its name, and where it keeps its files ($TREESCALE_HOME). */
export type RuntimeHost = { node: string; home: string; treeImages?: TreeImageSource };

/** Where a node gets an image its engine lacks from the tree (`image_source = "tree"`). */
export interface TreeImageSource {
  /** The node's default: a container that does not name its image_source fetches from the tree. */
  readonly byDefault: boolean;
  /** Resolves once the node's engine has `reference`, pushed down from the nearest ancestor holding it. */
  fetch(reference: string): Promise<void>;
}

/**
 * Live figures of a kind's objects on its node, from the engine's own stats (`container.stats`, /metrics).
 * It costs nothing until followed: the node follows only while someone subscribes.
 */
export interface UsageSource {
  /** Keeps the figures current (the engine streams them) until unfollow(). */
  follow(): void;
  unfollow(): void;
  /** The figures as last received while following; every object of the kind, unknown figures null. */
  current(): UsageSnapshot;
  /** Asks the engine once (a scrape while nobody follows). */
  sample(signal: AbortSignal): Promise<UsageSnapshot>;
}

/** What `treescale logs` asks of one object's output. */
export type LogRequest = {
  follow: boolean;
  /** The last N lines only. */
  tail?: number;
  /** From this time on (Unix seconds). */
  since?: number;
  timestamps: boolean;
};

export type ObjectLogLine = { stream: "stdout" | "stderr"; text: string };

/** The acting half of a node-scope kind, bound to one node's drivers by the composition root. */
export interface NodeRuntime<Observed, A extends PlannedAction> {
  observe(context: ObserveContext): Observer<Observed>;
  execute(actions: readonly A[], context: ExecuteContext<A>): Promise<Outcome<A>[]>;
  /** For kinds whose objects use resources the engine measures (containers). */
  readonly usage?: UsageSource;
  /**
   * What one of its objects wrote, for kinds whose objects write any (a container): resolves when
   * the output ends, or, following, when the signal aborts.
   */
  logs?(
    object: Observed,
    request: LogRequest,
    onLine: (line: ObjectLogLine) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

export interface NodeController<
  Spec = unknown,
  Observed extends ObservedObject = ObservedObject,
  A extends PlannedAction = PlannedAction,
> {
  readonly kind: string;
  readonly scope: "node";
  /** This kind's resources in the desired state. */
  specs(desired: DesiredState): Readonly<Record<string, Spec>>;
  /** Which node runs which replica. Pure and stable. */
  place(specs: Readonly<Record<string, Spec>>, nodes: readonly NodeInfo[]): Placement;
  /**
   * The spec as a node runs it, given the server the manifests declare for that node: for a kind that
   * takes defaults from its server (a container's image_source). Absent: one spec for every node.
   */
  specOn?(spec: Spec, server: ServerSpec): Spec;
  /** Problems with a spec that arrived over the bus (the sender validated its manifests; this guards the agent). */
  checkSpec(name: string, spec: unknown): string[];
  plan(input: NodePlanInput<Spec, Observed>): NodePlan<A>;
  readiness(
    entry: SliceEntry<Spec>,
    observed: readonly Observed[],
    peers?: Readonly<Record<string, readonly ObservedObject[]>>,
    below?: Readonly<Record<string, readonly PeersBelow[]>>,
  ): Readiness;
  describe(action: A): ActionLine;
  /** The JSON form of an action: everything needed to act on it, without the spec. */
  actionJson(action: A): Record<string, unknown>;
  /** `get <kind>` rows for observed objects, with what their nodes declared and observed besides. */
  rows(observed: readonly Observed[], context?: RowContext): Record<string, unknown>[];
  /** Columns of its rows that only `get -o wide` prints (the JSON and YAML rows always carry them). */
  readonly wideColumns?: readonly string[];
  /** Names `get` accepts for this kind (`containers`, `container`). */
  readonly nouns: readonly string[];
  /** Kinds whose observed objects this one plans from: a change to them re-plans this kind too. */
  readonly dependsOn?: readonly string[];
  /** It plans from its `dependsOn` kinds' objects on the nodes below this one too (a balancer over child servers). */
  readonly peersFromBelow?: boolean;
  /**
   * How long this kind may still hold on to peer objects that are leaving (a balancer draining a
   * container's connections), in ms; 0 once it has let go. The agent waits that long at most before
   * the peer kind stops them.
   */
  holding?(
    leaving: readonly ObservedObject[],
    observed: readonly Observed[],
    entries: Readonly<Record<string, SliceEntry<Spec>>>,
  ): number;
  /** A kind whose resources are not one of the built-in manifest sections brings its own. */
  readonly manifestSection?: ManifestSection;
  /** The update policy's batch size for a recreate of this action's resource, when it has one. */
  rolling?(action: A): { maxParallel: number; failureAction: "pause" | "rollback" } | undefined;
  /** The acting half, loaded (with its drivers) only by a node that acts: planning never pays for it. */
  runtime(host: RuntimeHost): Promise<NodeRuntime<Observed, A>>;
}

/** Where a fleet-scope kind acts: requests to nodes over the bus. */
export interface FleetRequester {
  /** The node's answer as JSON, or undefined when it did not answer within the time. */
  request(event: string, node: string, payload: string | undefined, timeoutMs: number): Promise<unknown>;
}

export type FleetExecuteContext<A extends PlannedAction> = {
  bus: FleetRequester;
  /** One deadline for the whole apply (epoch ms). */
  deadline: number;
  progress: ProgressSink<A>;
  signal: AbortSignal;
};

export interface FleetController<A extends PlannedAction = PlannedAction> {
  readonly kind: string;
  readonly scope: "fleet";
  /** Pure: what to do, from the desired state and the nodes' answers. */
  plan(desired: DesiredState, states: readonly NodeState[]): { actions: A[]; notes: PlanNote[] };
  execute(actions: readonly A[], context: FleetExecuteContext<A>): Promise<Outcome<A>[]>;
  describe(action: A): ActionLine;
  actionJson(action: A): Record<string, unknown>;
}

/**
 * One step of bringing a resource up on its own (`treescale build`), and how it ended; `found` is
 * what the step saw there once done (a version, an image), kept by the build as the server's record.
 */
export type BuildStep = {
  step: string;
  result: "unchanged" | "changed" | "would-change";
  detail: string;
  found?: string;
};

export type BuildReport =
  | { resource: string; ok: true; steps: BuildStep[] }
  | { resource: string; ok: false; steps: BuildStep[]; failedStep: string; error: string };

export type BuildOptions = {
  dryRun: boolean;
  parallel: number;
  /** Trust a server's host key seen for the first time (never a changed one). */
  acceptNewHostKeys: boolean;
  /** What the tree's nodes share (cluster secret, admin token). */
  /** With TLS, the CA and each server's certificate and key (the kind installs them). */
  credentials: {
    clusterSecret: string;
    adminToken: string;
    tls?: { ca: string; nodes: Readonly<Record<string, { cert: string; key: string }>> };
  };
  /**
   * The tree's nodes as they answered just before (agent.state through the recorded context's root);
   * undefined: not asked or no answer, so every resource is checked the kind's own way (SSH).
   */
  observed?: readonly NodeState[];
  onStep(resource: string, step: BuildStep): void;
  onActivity(resource: string, step: string, what: string): void;
};

/** A fleet kind that can also check and converge all its resources on its own, with a dry run. */
export interface FleetBuilder {
  readonly kind: string;
  /** What every resource's build needs from this machine, checked once before any is touched. */
  preflight?(): Promise<void>;
  build(desired: DesiredState, options: BuildOptions): Promise<BuildReport[]>;
}

export type Controller = NodeController | FleetController;
