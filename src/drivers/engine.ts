// The narrow door to a container engine. The Docker driver implements it for real;
// unit tests of pure planning never need it, controller tests use the real engine.
import type { ObservedContainer } from "../model/observed.js";
import type { ContainerSpec } from "../model/resources.js";

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

export interface ContainerEngine {
  /** Fails with EngineUnreachableError when the engine does not answer. */
  ping(): Promise<void>;
  /** Every container labelled as managed by TreeScale for this node, running or not. */
  listOwned(node: string): Promise<ObservedContainer[]>;
  hasImage(reference: string): Promise<boolean>;
  /** Fails with ImageUnavailableError when no registry can supply the image. */
  pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<void>;
  create(request: CreateContainerRequest): Promise<string>;
  start(id: string): Promise<void>;
  /** Renames a container (a start-first recreate moves the new container to the old one's name). */
  rename(id: string, name: string): Promise<void>;
  /** Stops (grace period in seconds) and removes; a container already gone is not an error. */
  remove(id: string, stopTimeoutSeconds: number): Promise<void>;
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
