// The vocabulary of the balancer kind: where a virtual service sends its traffic, as one dispatch
// both backends (nftables, IPVS) can be compared by, and what a plan does about it.
import type { BalancerSpec } from "../../src/model/resources.js";
import type { ObservedObject } from "../../src/reconcile/controller.js";

/**
 * A real server behind a virtual service. `target` names what it is (a container's name); `via`, the
 * node below this one whose published port it is reached through (its replies need masquerading).
 */
export type Endpoint = { address: string; port: number; weight: number; target: string; via?: string };

/**
 * How new connections pick an endpoint: a counter (`inc`), a random number, or a hash of the
 * client's (`saddr`) or the virtual address (`daddr`), over weighted slots.
 */
export type Dispatch = {
  mode: "inc" | "random" | "saddr" | "daddr" | "ipvs";
  endpoints: Endpoint[];
};

/** One virtual service as the kernel should hold it (desired) or holds it (observed). */
export type ServiceRules = {
  vip: string;
  port: number;
  protocol: "tcp" | "udp";
  alg: string;
  endpoints: Endpoint[];
};

export type KernelBackend = "nftables" | "ipvs";

export type ObservedBalancer = ObservedObject & {
  node: string;
  backend: KernelBackend;
  rules: ServiceRules;
  /** Endpoints that left the dispatch and still hold connections, with since when (ISO). */
  draining: { address: string; port: number; since: string; connections?: number; elapsedMs?: number }[];
  /** Active + inactive connections per endpoint `ip:port`, where the backend counts them (IPVS). */
  connections?: Record<string, number>;
};

type Target = { kind: "balancer"; node: string; stack: string; resource: string; replica: 1; reason: string };

export type EnsureAction = Target & {
  type: "ensure";
  spec: BalancerSpec;
  rules: ServiceRules;
  /** What the kernel holds for it now, to be replaced (another address, another backend, changed rules). */
  current?: ObservedBalancer;
  /** Matching containers that have no address the balancer can reach, named for the report. */
  unreachable: string[];
};

export type RemoveAction = Target & { type: "remove"; current: ObservedBalancer };

export type BalancerAction = EnsureAction | RemoveAction;
