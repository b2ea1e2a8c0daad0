// Balancer specs, observed containers and observed virtual services for the balancer kind's unit
// tests, and the kernel listings they parse (recorded from real tools, in test/fixtures/balancer/).
import { readFileSync } from "node:fs";
import type { Endpoint, ObservedBalancer, ServiceRules } from "../../../../controllers/balancer/types.js";
import { containerName } from "../../../../src/model/labels.js";
import type { ObservedContainer } from "../../../../src/model/observed.js";
import type { BalancerSpec } from "../../../../src/model/resources.js";

/** The stack fixtures belong to unless a test names another. */
export const STACK = "shop";
export const NODE = "node1";

export function balancerSpec(name: string, overrides: Partial<BalancerSpec> = {}): BalancerSpec {
  return {
    name,
    address: "10.0.0.10",
    port: 443,
    protocol: "tcp",
    alg: "wrr",
    backend: "auto",
    drainTimeoutMs: 30_000,
    backends: [{ container: "web", port: 80, weight: 1 }],
    ...overrides,
  };
}

/** A running container of `resource` at `ip` (no address when `ip` is undefined). */
export function container(
  resource: string,
  replica: number,
  ip: string | undefined,
  overrides: Partial<ObservedContainer> = {},
): ObservedContainer {
  const stack = overrides.stack ?? STACK;
  return {
    id: `${stack}-${resource}-${replica}`,
    name: containerName(stack, NODE, resource, replica),
    node: NODE,
    stack,
    resource,
    replica,
    hash: "h",
    fieldHashes: {},
    image: "local/web:1",
    state: "running",
    createdAt: "2026-01-01T00:00:00Z",
    restarts: null,
    ...(ip === undefined ? {} : { ip }),
    ...overrides,
  };
}

export function endpoint(address: string, port: number, weight = 1, target = ""): Endpoint {
  return { address, port, weight, target };
}

export function rules(overrides: Partial<ServiceRules> = {}): ServiceRules {
  return { vip: "10.0.0.10", port: 443, protocol: "tcp", alg: "wrr", endpoints: [], ...overrides };
}

/** A virtual service the kernel holds for `resource`. */
export function observedBalancer(
  resource: string,
  held: ServiceRules,
  overrides: Partial<ObservedBalancer> = {},
): ObservedBalancer {
  return {
    stack: STACK,
    resource,
    replica: 1,
    node: NODE,
    backend: "nftables",
    rules: held,
    draining: [],
    ...overrides,
  };
}

const FIXTURES = new URL("../../../fixtures/balancer/", import.meta.url);

function fixtureText(name: string): string {
  return readFileSync(new URL(name, FIXTURES), "utf8");
}

/**
 * `nft -j list table ip treescale` of the script in nftables-listing.nft, as nftables 1.0.6 printed
 * it: the `nftables` array the driver hands to parseTable. A fresh copy each call, to edit freely.
 */
export function nftListing(): unknown[] {
  return (JSON.parse(fixtureText("nftables-listing.json")) as { nftables: unknown[] }).nftables;
}

/** The nft script the listing was made from (comments, then baseScript and ensureScript lines). */
export const NFT_LISTING_SCRIPT = fixtureText("nftables-listing.nft");

/** `ipvsadm -S -n` and `ipvsadm -L -n` of the same kernel state. */
export const IPVSADM_SAVE = fixtureText("ipvsadm-save.txt");
export const IPVSADM_LIST = fixtureText("ipvsadm-list.txt");
