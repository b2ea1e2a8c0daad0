// The normalized desired-state types every manifest language is read into.
// Units are resolved here (bytes, milliseconds) so planning never parses strings.

export type SourceLocation = { file: string; line: number; column: number };

export const RESTART_POLICIES = ["no", "always", "unless-stopped", "on-failure"] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export type PortMapping = {
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
};

export type HealthCheck = {
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
};

export type Placement = { nodes?: string[]; tags?: string[] };

export type UpdatePolicy = {
  maxParallel: number;
  order: "start-first" | "stop-first";
  failureAction: "pause" | "rollback";
};

export type ContainerSpec = {
  name: string;
  image: string;
  /**
   * "tree": a node whose engine lacks the image fetches it from its parent (recursively), not a registry;
   * "registry": pulled, whatever the node's default. Unset: the node's default (registry unless it says tree).
   */
  imageSource?: ImageSource;
  /** Replicas in total, spread over the matching nodes (ignored in global mode). */
  replicas: number;
  mode: "replicated" | "global";
  command?: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  ports: PortMapping[];
  volumes: string[];
  labels: Record<string, string>;
  restart: RestartPolicy;
  memoryBytes?: number;
  cpus?: number;
  healthcheck?: HealthCheck;
  placement: Placement;
  /** false: drift on this resource is reported, never healed. */
  heal: boolean;
  update: UpdatePolicy;
};

export type SshAccess = {
  host: string;
  port: number;
  user?: string;
  keyFile?: string;
  password?: string;
  hostKey?: string;
};

export type ImageSource = "registry" | "tree";

export type ServerSpec = {
  name: string;
  ip: string;
  servicePort: number;
  tags: string[];
  groups: string[];
  childs: string[];
  ssh?: SshAccess;
  /**
   * The default image_source of the containers placed on this server: an apply gives it to them, and
   * `treescale node --config` reads it for itself.
   */
  imageSource?: ImageSource;
};

export type BalancerBackend = {
  /** Containers selected by image reference or by resource name. */
  image?: string;
  container?: string;
  port: number;
  weight: number;
};

/** Where a balancer's rules live: IPVS where the kernel has it, nftables otherwise (`auto`). */
export const BALANCER_BACKENDS = ["auto", "ipvs", "nftables"] as const;
export type BalancerBackendKind = (typeof BALANCER_BACKENDS)[number];

/** Schedulers: IPVS has all of these; nftables dispatches with the ones in NFT_ALGORITHMS. */
export const IPVS_ALGORITHMS = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
] as const;
export const NFT_ALGORITHMS = ["rr", "wrr", "sh", "dh", "random"] as const;
export const BALANCER_ALGORITHMS = [...IPVS_ALGORITHMS, "random"] as const;
export type BalancerAlgorithm = (typeof BALANCER_ALGORITHMS)[number];

export type BalancerSpec = {
  name: string;
  node?: string;
  address: string;
  port: number;
  protocol: "tcp" | "udp";
  alg: BalancerAlgorithm;
  backend: BalancerBackendKind;
  /** How long a leaving backend keeps its open connections before it is removed. */
  drainTimeoutMs: number;
  backends: BalancerBackend[];
};

export type ResourceKind = "servers" | "containers" | "balancers";

export type DesiredState = {
  servers: Record<string, ServerSpec>;
  containers: Record<string, ContainerSpec>;
  balancers: Record<string, BalancerSpec>;
  /** Where each resource was declared, keyed `kind.name`, for messages that point at a file. */
  sources: Record<string, SourceLocation>;
  /**
   * Resources of kinds that controllers add, keyed by manifest section, then by name; each value is what
   * the section's own parser made of it, for that section's controller to read.
   */
  extensions: Record<string, Record<string, unknown>>;
};

export function emptyDesiredState(): DesiredState {
  return { servers: {}, containers: {}, balancers: {}, sources: {}, extensions: {} };
}
