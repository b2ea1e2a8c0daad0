// What a node's engine reports about the containers TreeScale owns.

export type ContainerRunState =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";

export type ObservedContainer = {
  id: string;
  name: string;
  node: string;
  /** The stack that created it (LEGACY_STACK when it predates stacks). */
  stack: string;
  resource: string;
  replica: number;
  /** Hash of the normalized spec the container was created from. */
  hash: string;
  /** Short hash per spec field, so a recreate can name the fields that changed. */
  fieldHashes: Record<string, string>;
  image: string;
  /** The image's content ID the container runs (sha256:…), as the engine lists it. */
  imageId?: string;
  /** Labels the manifests gave it (not TreeScale's own). */
  labels?: Record<string, string>;
  state: ContainerRunState;
  health?: "starting" | "healthy" | "unhealthy";
  /** Its address on the engine's network, while it has one (running). */
  ip?: string;
  /** Its ports published on the host (`hostIp` when bound to one address only). */
  published?: { port: number; protocol: "tcp" | "udp"; hostPort: number; hostIp?: string }[];
  createdAt: string;
  /**
   * How many times the engine restarted it (Docker's RestartCount), null until it has been read: the
   * engine's list does not give it, so it comes from an inspect, made when the container is first seen
   * and after each start, restart or die event.
   */
  restarts: number | null;
};

export type ObservedState = {
  node: string;
  containers: ObservedContainer[];
};
