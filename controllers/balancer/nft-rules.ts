// nftables as TreeScale uses it, pure: one table of its own; new connections to a virtual address
// are dispatched through one verdict map keyed by address . protocol . port (one lookup however many
// services), to a chain per service that DNATs by `numgen` (rr, wrr, random) or `jhash` (sh, dh) over
// weighted slots. Rendering writes the transaction for a change; parsing reads the table back, so
// drift is seen by content, not trusted from a record.
import { byAddress } from "./endpoints.js";
import type { KernelBackend, ObservedBalancer, ServiceRules } from "./types.js";

export const NFT_TABLE = "treescale";
const MAP = "services";
const COMMENT_PREFIX = "treescale ";

export function serviceChain(stack: string, name: string): string {
  return `svc_${stack}_${name}`;
}

/**
 * Connections sent to a backend on another host carry this bit of the conntrack mark, so that only
 * they (not other DNAT on the host) are masqueraded on the way out: the backend's replies must come
 * back through this node to be un-NATed.
 */
const MASQUERADE_MARK = "0x00010000";

type BaseChain = "prerouting" | "output" | "postrouting";
export const BASE_CHAINS: readonly BaseChain[] = ["prerouting", "output", "postrouting"];

/** The table, its map and the dispatching base chains; `add` is idempotent, rules are added only when missing. */
export function baseScript(missing: Record<BaseChain, boolean>): string[] {
  const lines = [
    `add table ip ${NFT_TABLE}`,
    `add map ip ${NFT_TABLE} ${MAP} { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    // dstnat on prerouting for clients elsewhere; -100 on output for clients on this host.
    `add chain ip ${NFT_TABLE} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ip ${NFT_TABLE} output { type nat hook output priority -100; policy accept; }`,
    `add chain ip ${NFT_TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
  ];
  for (const chain of ["prerouting", "output"] as const) {
    if (missing[chain])
      lines.push(`add rule ip ${NFT_TABLE} ${chain} ip daddr . meta l4proto . th dport vmap @${MAP}`);
  }
  // Not towards a container bridge of this host: those backends answer through this host anyway.
  if (missing.postrouting)
    lines.push(
      `add rule ip ${NFT_TABLE} postrouting ct status dnat ct mark and ${MASQUERADE_MARK} == ${MASQUERADE_MARK} meta oifkind != "bridge" masquerade`,
    );
  return lines;
}

/** Makes or replaces one service: its chain's rule and its map element (the old element too, when the address moved). */
export function ensureScript(
  stack: string,
  name: string,
  rules: ServiceRules,
  current?: ServiceRules,
): string[] {
  const chain = serviceChain(stack, name);
  const lines = [`add chain ip ${NFT_TABLE} ${chain}`, `flush chain ip ${NFT_TABLE} ${chain}`];
  const dnat = dnatRule(rules);
  if (dnat) lines.push(`add rule ip ${NFT_TABLE} ${chain} ${dnat}`);
  if (current && current.vip !== "" && elementKey(current) !== elementKey(rules))
    lines.push(`delete element ip ${NFT_TABLE} ${MAP} { ${elementKey(current)} }`);
  lines.push(`add element ip ${NFT_TABLE} ${MAP} { ${elementKey(rules)} : jump ${chain} }`);
  return lines;
}

export function removeScript(stack: string, name: string, current: ServiceRules): string[] {
  const chain = serviceChain(stack, name);
  return [
    ...(current.vip !== "" ? [`delete element ip ${NFT_TABLE} ${MAP} { ${elementKey(current)} }`] : []),
    `flush chain ip ${NFT_TABLE} ${chain}`,
    `delete chain ip ${NFT_TABLE} ${chain}`,
  ];
}

function elementKey(rules: Pick<ServiceRules, "vip" | "protocol" | "port">): string {
  return `${rules.vip} . ${rules.protocol} . ${rules.port}`;
}

const KEYS: Record<string, string> = {
  rr: "numgen inc",
  wrr: "numgen inc",
  random: "numgen random",
  sh: "jhash ip saddr",
  dh: "jhash ip daddr",
};

/** `meta l4proto tcp dnat ip to numgen inc mod 3 map { 0-1 : a . 80, 2 : b . 80 } comment "treescale wrr"` */
function dnatRule(rules: ServiceRules): string | undefined {
  if (rules.endpoints.length === 0) return undefined;
  const key = KEYS[rules.alg];
  if (!key) throw new Error(`nftables cannot schedule with "${rules.alg}"`);
  let slot = 0;
  const slots = rules.endpoints.map((e) => {
    const from = slot;
    slot += e.weight;
    const range = e.weight === 1 ? `${from}` : `${from}-${slot - 1}`;
    return `${range} : ${e.address} . ${e.port}`;
  });
  const mark = rules.endpoints.some((e) => e.via !== undefined)
    ? `ct mark set ct mark or ${MASQUERADE_MARK} `
    : "";
  return `${mark}meta l4proto ${rules.protocol} dnat ip to ${key} mod ${slot} map { ${slots.join(", ")} } comment "${COMMENT_PREFIX}${rules.alg}"`;
}

type Json = Record<string, unknown>;

/**
 * TreeScale's services as the table holds them, from `nft -j list table`: one per `svc_` chain,
 * with the address its map element gives it and the endpoints and weights its rule dispatches to.
 * A chain whose rule is not what TreeScale writes reads as an unknown scheduler, so it differs from
 * any desired state and is rewritten.
 */
export function parseTable(listing: readonly unknown[], node: string): ObservedBalancer[] {
  const objects = listing.filter((o): o is Json => typeof o === "object" && o !== null);
  const elements = new Map<string, Pick<ServiceRules, "vip" | "protocol" | "port">>();
  for (const object of objects) {
    const map = object.map as Json | undefined;
    if (!map || map.name !== MAP) continue;
    for (const element of (map.elem as unknown[] | undefined) ?? []) {
      const [key, value] = element as [Json, Json];
      const [vip, protocol, port] = ((key?.concat as unknown[]) ?? []) as [string, string, number];
      const target = (value?.jump as Json | undefined)?.target;
      if (typeof target === "string" && (protocol === "tcp" || protocol === "udp"))
        elements.set(target, { vip, protocol, port: Number(port) });
    }
  }
  const observed: ObservedBalancer[] = [];
  const backend: KernelBackend = "nftables";
  for (const object of objects) {
    const chain = object.chain as Json | undefined;
    const name = typeof chain?.name === "string" ? chain.name : undefined;
    if (!name?.startsWith("svc_")) continue;
    const [, stack, resource] = name.split("_");
    if (!stack || !resource) continue;
    const rules = objects
      .map((o) => o.rule as Json | undefined)
      .filter((rule): rule is Json => rule !== undefined && rule.chain === name);
    const element = elements.get(name);
    observed.push({
      stack,
      resource,
      replica: 1,
      node,
      backend,
      rules: {
        vip: element?.vip ?? "",
        port: element?.port ?? 0,
        protocol: element?.protocol ?? "tcp",
        ...readRules(rules),
      },
      draining: [],
    });
  }
  return observed;
}

function readRules(rules: readonly Json[]): Pick<ServiceRules, "alg" | "endpoints"> {
  if (rules.length === 0) return { alg: "", endpoints: [] };
  const [rule] = rules;
  const comment = typeof rule?.comment === "string" ? rule.comment : "";
  const dnat = ((rule?.expr as Json[] | undefined) ?? []).find((e) => e.dnat !== undefined)?.dnat as
    | Json
    | undefined;
  const map = (dnat?.addr as Json | undefined)?.map as Json | undefined;
  const set = ((map?.data as Json | undefined)?.set as unknown[] | undefined) ?? [];
  const alg = comment.slice(COMMENT_PREFIX.length);
  if (rules.length !== 1 || !comment.startsWith(COMMENT_PREFIX) || !map || dispatchKey(map.key) !== KEYS[alg])
    return { alg: "(changed by hand)", endpoints: [] };
  const weights = new Map<string, { address: string; port: number; weight: number }>();
  for (const entry of set) {
    const [slot, target] = entry as [number | Json, Json];
    const [address, port] = ((target?.concat as unknown[]) ?? []) as [string, number];
    const [from, to] =
      typeof slot === "number" ? [slot, slot] : ((slot?.range as [number, number] | undefined) ?? [0, -1]);
    const key = `${address}:${port}`;
    const known = weights.get(key) ?? { address, port: Number(port), weight: 0 };
    known.weight += to - from + 1;
    weights.set(key, known);
  }
  return {
    alg,
    endpoints: [...weights.values()].map((e) => ({ ...e, target: "" })).sort(byAddress),
  };
}

/** The dispatch a map key reads as, in the words the renderer writes it with (`numgen inc`, `jhash ip saddr`). */
function dispatchKey(key: unknown): string | undefined {
  const numgen = (key as Json | undefined)?.numgen as Json | undefined;
  if (numgen) return `numgen ${String(numgen.mode)}`;
  const jhash = (key as Json | undefined)?.jhash as Json | undefined;
  const field = ((jhash?.expr as Json | undefined)?.payload as Json | undefined)?.field;
  return jhash ? `jhash ip ${String(field)}` : undefined;
}

/** Whether each base chain still has its rule (someone may have flushed it). */
export function dispatchMissing(listing: readonly unknown[] | undefined): Record<BaseChain, boolean> {
  const has = (chain: string, needle: string) =>
    (listing ?? []).some((o) => {
      const rule = (o as Json).rule as Json | undefined;
      return rule?.chain === chain && JSON.stringify(rule.expr ?? "").includes(needle);
    });
  return {
    prerouting: !has("prerouting", `"@${MAP}"`),
    output: !has("output", `"@${MAP}"`),
    postrouting: !has("postrouting", '"masquerade"'),
  };
}
