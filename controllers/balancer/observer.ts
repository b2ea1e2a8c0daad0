// Keeps a node's view of the virtual services TreeScale made, from the kernel itself: its nftables
// table and, where the kernel has IPVS, the services in its record. nftables has no event stream to
// follow, so the kernel is listed every second while there is something of ours to watch (a rule
// changed by hand is seen within that), and after every change TreeScale makes.
import { errorMessage } from "../../src/errors.js";
import type { ObserveContext, Observer } from "../../src/reconcile/controller.js";
import { canonicalJson } from "../../src/util/canonical-json.js";
import { parseConntrack, withConnections } from "./conntrack.js";
import type { BalancerDrivers } from "./execute.js";
import { observeIpvs, parseConnections, parseSave } from "./ipvs-rules.js";
import { NFT_TABLE, parseTable } from "./nft-rules.js";
import type { ObservedBalancer } from "./types.js";

const BUSY_POLL_MS = 1000;
const IDLE_POLL_MS = 5000;

export class BalancerObserver implements Observer<ObservedBalancer> {
  #items: ObservedBalancer[] = [];
  #timer: unknown;
  #stopped = false;
  #relisting: Promise<void> | undefined;
  /** When each IPVS endpoint was first seen drained (weight 0): its drain time counts from there. */
  readonly #drainingSince = new Map<string, string>();
  /** The same for nftables backends out of the dispatch that still hold connections. */
  readonly #nftDrainingSince = new Map<string, string>();
  synced = false;
  error: string | undefined;

  constructor(
    private readonly drivers: BalancerDrivers,
    private readonly context: ObserveContext,
  ) {}

  async start(): Promise<void> {
    try {
      await this.relist();
    } finally {
      this.#schedule();
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.context.clock.clearTimeout(this.#timer);
  }

  items(): ObservedBalancer[] {
    return this.#items;
  }

  relist(): Promise<void> {
    this.#relisting ??= this.#list().finally(() => {
      this.#relisting = undefined;
    });
    return this.#relisting;
  }

  async #list(): Promise<void> {
    let fresh: ObservedBalancer[];
    try {
      fresh = [...(await this.#listNft()), ...(await this.#listIpvs())];
    } catch (error) {
      this.error = errorMessage(error);
      throw error;
    }
    this.error = undefined;
    this.synced = true;
    const before = new Map(this.#items.map((item) => [`${item.stack}/${item.resource}`, shape(item)]));
    // IPVS keeps a drained endpoint until TreeScale deletes it: its services re-plan while they drain.
    const changed = fresh.filter(
      (item) =>
        before.get(`${item.stack}/${item.resource}`) !== shape(item) ||
        (item.backend === "ipvs" && item.draining.length > 0),
    );
    const gone = [...before.keys()].filter(
      (key) => !fresh.some((item) => `${item.stack}/${item.resource}` === key),
    );
    this.#items = fresh;
    const report = [
      ...changed.map((item) => ({ stack: item.stack, resource: item.resource })),
      ...gone.map((key) => {
        const [stack = "", resource = ""] = key.split("/");
        return { stack, resource };
      }),
    ];
    if (report.length > 0) this.context.onChange(report, undefined);
  }

  async #listNft(): Promise<ObservedBalancer[]> {
    const listing = await this.drivers.nft
      .listTable(NFT_TABLE, this.context.signal)
      .catch(missingToolIsEmpty);
    const services = listing ? parseTable(listing, this.context.node) : [];
    if (services.length === 0) return services;
    const conntrack = await this.drivers.conntrack.read(this.context.signal);
    // Without a readable conntrack table, connections are not known: said as such (null), not as 0.
    if (conntrack === undefined) return services;
    return withConnections(
      services,
      parseConntrack(conntrack),
      this.#nftDrainingSince,
      this.context.clock.now(),
    );
  }

  async #listIpvs(): Promise<ObservedBalancer[]> {
    const record = await this.drivers.record.read();
    if (Object.keys(record).length === 0 || !(await this.drivers.ipvs.available())) return [];
    const [saved, listed] = await Promise.all([
      this.drivers.ipvs.save(this.context.signal),
      this.drivers.ipvs.list(this.context.signal),
    ]);
    const services = parseSave(saved);
    const now = new Date(this.context.clock.now()).toISOString();
    const drained = new Set<string>();
    for (const service of services)
      for (const real of service.reals.filter((r) => r.weight === 0)) {
        const key = `${service.protocol} ${service.vip}:${service.port} → ${real.address}:${real.port}`;
        drained.add(key);
        if (!this.#drainingSince.has(key)) this.#drainingSince.set(key, now);
      }
    for (const key of this.#drainingSince.keys()) if (!drained.has(key)) this.#drainingSince.delete(key);
    return observeIpvs(
      services,
      record,
      parseConnections(listed),
      this.context.node,
      this.#drainingSince,
      this.context.clock.now(),
    );
  }

  #schedule(): void {
    if (this.#stopped) return;
    const period = this.#items.length > 0 ? BUSY_POLL_MS : IDLE_POLL_MS;
    this.#timer = this.context.clock.setTimeout(() => {
      this.#timer = undefined;
      this.relist()
        .catch((error: unknown) => this.context.onError(`cannot list balancer rules: ${errorMessage(error)}`))
        .finally(() => this.#schedule());
    }, period);
  }
}

/**
 * A node without the tool, or without the right to use it (not root), holds none of these rules: a
 * balancer placed there fails with the tool's own words when it acts; the node is not blind for it.
 */
function missingToolIsEmpty(error: unknown): undefined {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === "COMMAND_MISSING") return undefined;
  if (code === "COMMAND_FAILED" && typeof message === "string" && /Operation not permitted/.test(message))
    return undefined;
  throw error;
}

/** What a change is judged by: the rules and who drains, not connection counts that move all the time. */
function shape(item: ObservedBalancer): string {
  return canonicalJson({
    backend: item.backend,
    rules: item.rules,
    draining: item.draining.map((d) => `${d.address}:${d.port}`),
  });
}
