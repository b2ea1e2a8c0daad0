// Carries out a balancer plan: each service goes to IPVS where the kernel has it (or where it is
// forced), to nftables otherwise, as one transaction (`nft -f -`) or one batch (`ipvsadm -R`). A
// service that moves between backends is removed from the one it leaves.
import type { BridgeMacPinner } from "../../src/drivers/bridge-mac.js";
import type { ConntrackReader } from "../../src/drivers/conntrack.js";
import type { IpvsRecord, IpvsRunner } from "../../src/drivers/ipvs.js";
import type { NftRunner } from "../../src/drivers/nft.js";
import { TreescaleError } from "../../src/errors.js";
import { IPVS_ALGORITHMS, NFT_ALGORITHMS } from "../../src/model/resources.js";
import type { Disposition, ExecuteContext, Outcome } from "../../src/reconcile/controller.js";
import { runAction } from "../../src/reconcile/outcome.js";
import { ensureBatch, removeBatch, serviceKey } from "./ipvs-rules.js";
import {
  BASE_CHAINS,
  baseScript,
  dispatchMissing,
  ensureScript,
  NFT_TABLE,
  removeScript,
} from "./nft-rules.js";
import { drainOver } from "./plan.js";
import type { BalancerAction, EnsureAction, KernelBackend, ObservedBalancer } from "./types.js";

export type BalancerDrivers = {
  nft: NftRunner;
  ipvs: IpvsRunner;
  /** Kept on disk: IPVS has no room for a label, so this is how TreeScale knows its own services. */
  record: { read(): Promise<IpvsRecord>; write(record: IpvsRecord): Promise<void> };
  /** Connections per backend where nftables dispatches (IPVS counts its own). */
  conntrack: ConntrackReader;
  /** Keeps the bridges of local backends at one MAC, so their replies reach their gateway through a recreate. */
  bridges: BridgeMacPinner;
};

export async function executeBalancerPlan(
  actions: readonly BalancerAction[],
  context: ExecuteContext<BalancerAction>,
  drivers: BalancerDrivers,
): Promise<Outcome<BalancerAction>[]> {
  const outcomes: Outcome<BalancerAction>[] = [];
  // One after another: each is a transaction on the same table (or batch on the same kernel).
  for (const action of actions)
    outcomes.push(
      await runAction(
        action,
        context.progress,
        () =>
          action.type === "ensure"
            ? ensure(action, context, drivers)
            : remove(action.current, drivers, context.signal),
        failureKind,
        context.signal,
      ),
    );
  return outcomes;
}

/** What only a change of manifest or host fixes is terminal; a tool that overran is retried, Stalled meanwhile. */
const TERMINAL = new Set([
  "IPVS_UNAVAILABLE",
  "UNSUPPORTED_ALGORITHM",
  "IPV6_UNSUPPORTED",
  "COMMAND_MISSING",
]);

function failureKind(error: unknown): { code?: string; disposition?: Disposition } {
  if (!(error instanceof TreescaleError)) return {};
  if (TERMINAL.has(error.code)) return { code: error.code, disposition: "terminal" };
  if (error.code === "COMMAND_TIMEOUT") return { code: error.code, disposition: "stalled" };
  return { code: error.code };
}

async function chooseBackend(action: EnsureAction, drivers: BalancerDrivers): Promise<KernelBackend> {
  const { backend, alg } = action.spec;
  const hasIpvs = await drivers.ipvs.available();
  if (backend === "ipvs" && !hasIpvs)
    throw new TreescaleError(
      "IPVS_UNAVAILABLE",
      `this kernel has no IP_VS (no /proc/net/ip_vs): load the ip_vs module, or set backend = "nftables" or "auto" on balancer ${action.resource}`,
    );
  const ipvsCan = (IPVS_ALGORITHMS as readonly string[]).includes(alg);
  const chosen = backend === "auto" ? (hasIpvs && ipvsCan ? "ipvs" : "nftables") : backend;
  if (chosen === "nftables" && action.rules.vip.includes(":"))
    throw new TreescaleError(
      "IPV6_UNSUPPORTED",
      `balancer ${action.resource}: the nftables backend balances IPv4 addresses only; an IPv6 address needs IPVS (backend = "ipvs")`,
    );
  if (chosen === "nftables" && !(NFT_ALGORITHMS as readonly string[]).includes(alg))
    throw new TreescaleError(
      "UNSUPPORTED_ALGORITHM",
      `balancer ${action.resource}: alg "${alg}" needs IPVS, which this kernel lacks; nftables balances with ${NFT_ALGORITHMS.join(", ")}`,
    );
  return chosen;
}

async function ensure(
  action: EnsureAction,
  context: ExecuteContext<BalancerAction>,
  drivers: BalancerDrivers,
): Promise<void> {
  const backend = await chooseBackend(action, drivers);
  // Before any backend is sent traffic: the first container removed later must not move the gateway's MAC.
  await drivers.bridges.pinBridgesOf(
    action.rules.endpoints.map((endpoint) => endpoint.address),
    context.signal,
  );
  const current = action.current?.backend === backend ? action.current : undefined;
  if (action.current && action.current.backend !== backend)
    await remove(action.current, drivers, context.signal);
  if (backend === "nftables") {
    // Only the two base chains are read: a change costs the same whatever the number of services.
    const base = await Promise.all(
      BASE_CHAINS.map((chain) => drivers.nft.listChain(NFT_TABLE, chain, context.signal)),
    );
    const script = [
      ...baseScript(dispatchMissing(base.flatMap((listing) => listing ?? []))),
      ...ensureScript(action.stack, action.resource, action.rules, current?.rules),
    ];
    await drivers.nft.apply(`${script.join("\n")}\n`, context.signal);
    return;
  }
  const record = await drivers.record.read();
  // A service that moved address is no longer ours at the old one: someone else may make it later.
  if (current && serviceKey(current.rules) !== serviceKey(action.rules))
    delete record[serviceKey(current.rules)];
  record[serviceKey(action.rules)] = { stack: action.stack, name: action.resource };
  // Recorded before the kernel holds it: a crash in between leaves a record of nothing, never an
  // unrecorded service of ours.
  await drivers.record.write(record);
  const finished = (endpoint: { address: string; port: number }) => {
    const draining = current?.draining.find(
      (d) => d.address === endpoint.address && d.port === endpoint.port,
    );
    return !draining || drainOver(draining, action.spec.drainTimeoutMs);
  };
  await drivers.ipvs.restore(`${ensureBatch(action.rules, current, finished).join("\n")}\n`, context.signal);
}

async function remove(
  current: ObservedBalancer,
  drivers: BalancerDrivers,
  signal: AbortSignal,
): Promise<void> {
  if (current.backend === "nftables") {
    await drivers.nft.apply(
      `${removeScript(current.stack, current.resource, current.rules).join("\n")}\n`,
      signal,
    );
    return;
  }
  await drivers.ipvs.restore(`${removeBatch(current).join("\n")}\n`, signal);
  const record = await drivers.record.read();
  delete record[serviceKey(current.rules)];
  await drivers.record.write(record);
}
