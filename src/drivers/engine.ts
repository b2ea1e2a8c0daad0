// The narrow door to a container engine. The Docker driver implements it for real; unit tests use an
// in-memory fake. Both pass one contract suite (test/contract/container-engine.contract.ts).
import type { ObservedContainer } from "../model/observed.js";
import type { ContainerSpec } from "../model/resources.js";
import type { ContainerUsage } from "../model/usage.js";
import type { LogLine } from "./log-lines.js";

export type CreateContainerRequest = {
  name: string;
  node: string;
  stack: string;
  replica: number;
  spec: ContainerSpec;
  hash: string;
  fieldHashes: Record<string, string>;
  generation: number;
};

export type PullProgress = { image: string; status: string; current?: number; total?: number };

/**
 * Every call has a deadline and fails with EngineTimeoutError when it passes; an aborted signal
 * ends a call at once with AbortedError. A mutation that timed out or was aborted may still
 * take effect on the engine: relist before deciding again.
 */
export type EngineCallOptions = { signal?: AbortSignal | undefined };

export interface ContainerEngine {
  /** Fails with EngineUnreachableError when the engine does not answer. */
  ping(options?: EngineCallOptions): Promise<void>;
  /** Every container labelled as managed by TreeScale for this node, running or not. */
  listOwned(node: string, options?: EngineCallOptions): Promise<ObservedContainer[]>;
  hasImage(reference: string, options?: EngineCallOptions): Promise<boolean>;
  /**
   * Fails with ImageUnavailableError when no registry can supply the image. Its deadline is
   * between progress events, not in total: a large image may take minutes.
   */
  pullImage(
    reference: string,
    onProgress: (progress: PullProgress) => void,
    options?: EngineCallOptions,
  ): Promise<void>;
  /** Fails with ContainerNameConflictError when the name is taken, ImageUnavailableError without the image. */
  create(request: CreateContainerRequest, options?: EngineCallOptions): Promise<string>;
  start(id: string, options?: EngineCallOptions): Promise<void>;
  /**
   * Renames a container (a start-first recreate moves the new container to the old one's name);
   * fails with ContainerNameConflictError while another container holds the name.
   */
  rename(id: string, name: string, options?: EngineCallOptions): Promise<void>;
  /**
   * Stops (grace period in seconds) and removes; a container already gone is not an error.
   * The stop's deadline is the grace period plus a margin.
   */
  remove(id: string, stopTimeoutSeconds: number, options?: EngineCallOptions): Promise<void>;
}

/** What `treescale logs` asks of one container's output. */
export type LogOptions = {
  /** Keep reading what it writes until the signal aborts. */
  follow: boolean;
  /** Only the last N lines of what it has written so far. */
  tail?: number;
  /** Only what it wrote from this time on (Unix seconds). */
  since?: number;
  /** Each line prefixed with the engine's RFC 3339 time. */
  timestamps: boolean;
};

/** The engine's record of what a container wrote to stdout and stderr. */
export interface ContainerLogReader {
  /**
   * Calls `onLine` with each line, resolving when the output ends: at once without `follow`, when
   * the container goes or the signal aborts with it. Opening the stream has the usual deadline; a
   * followed stream has none after (a quiet container is not a hung engine).
   */
  readLogs(
    id: string,
    options: LogOptions,
    onLine: (line: LogLine) => void,
    call?: EngineCallOptions,
  ): Promise<void>;
}

/** A change to one of a node's owned containers, as the engine's event stream reports it. */
export type EngineEvent = {
  containerId: string;
  /** The container's stack label, LEGACY_STACK when it predates stacks. */
  stack: string;
  resource: string;
  action: string;
  /** Engine time, ms. */
  time: number;
};

export interface EngineEventSource {
  /**
   * Streams events about the node's owned containers until the returned function is called.
   * `onEnd` is called once if the stream breaks or ends; the caller relists and watches again.
   */
  watchEvents(
    node: string,
    onEvent: (event: EngineEvent) => void,
    onEnd: (error?: unknown) => void,
  ): () => void;
}

/** How many times the engine restarted a container: its list does not say, so this asks once per container. */
export interface ContainerRestartCounter {
  /** Null when the engine's answer has no count; fails with a typed error when the engine does not answer. */
  restartCount(id: string, options?: EngineCallOptions): Promise<number | null>;
}

/** A container's figures from the engine's own stats (what `docker stats` reads). */
export interface ContainerStatsSource {
  /**
   * One answer; its CPU % is over the engine's last sampling period (about a second, which the call
   * waits for). Fails with a typed error when the engine does not answer within the deadline.
   */
  stats(id: string, options?: EngineCallOptions): Promise<ContainerUsage>;
  /**
   * Figures as the engine sends them (about once a second) until the returned function is called.
   * `onEnd` is called once when the stream ends (the container stopped) or breaks, or stays silent
   * past its deadline; the first figures have no CPU % yet (null).
   */
  watchStats(
    id: string,
    onUsage: (usage: ContainerUsage) => void,
    onEnd: (error?: unknown) => void,
  ): () => void;
}
