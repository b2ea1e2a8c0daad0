import { describe, expect, it } from "vitest";
import { type BalancerDrivers, executeBalancerPlan } from "../../../../controllers/balancer/execute.js";
import type { BalancerAction, EnsureAction, ServiceRules } from "../../../../controllers/balancer/types.js";
import type { IpvsRecord } from "../../../../src/drivers/ipvs.js";
import type { BalancerSpec } from "../../../../src/model/resources.js";
import type { ExecuteContext, Outcome } from "../../../../src/reconcile/controller.js";
import { balancerSpec, endpoint, NODE, nftListing, observedBalancer, rules, STACK } from "./fixtures.js";

/**
 * nft, ipvsadm and the IPVS record as literals: every call logged in order, nothing run. `listing` is
 * the table `nft -j list` would show (undefined: no table); a chain's listing is its part of it.
 */
function fakeDrivers(options: { ipvs: boolean; record?: IpvsRecord; listing?: unknown[] }) {
  const calls: string[] = [];
  const scripts: string[] = [];
  const batches: string[] = [];
  let record: IpvsRecord = { ...options.record };
  const drivers: BalancerDrivers = {
    conntrack: { read: async () => undefined },
    bridges: {
      async pinBridgesOf(addresses) {
        calls.push(`pin bridges of ${addresses.join(",")}`);
        return [];
      },
    },
    nft: {
      async apply(script) {
        calls.push("nft apply");
        scripts.push(script);
      },
      async listTable(table) {
        calls.push(`nft list ${table}`);
        return options.listing;
      },
      async listChain(table, chain) {
        calls.push(`nft list ${table} ${chain}`);
        return options.listing?.filter((o) => {
          const { chain: object, rule } = o as { chain?: { name: string }; rule?: { chain: string } };
          return object?.name === chain || rule?.chain === chain;
        });
      },
    },
    ipvs: {
      async available() {
        return options.ipvs;
      },
      async save() {
        return "";
      },
      async list() {
        return "";
      },
      async restore(batch) {
        calls.push("ipvsadm restore");
        batches.push(batch);
      },
    },
    record: {
      async read() {
        return structuredClone(record);
      },
      async write(next) {
        calls.push(`record write ${Object.keys(next).sort().join(",")}`);
        record = structuredClone(next);
      },
    },
  };
  return { drivers, calls, scripts, batches, record: () => record };
}

function run(actions: BalancerAction[], drivers: BalancerDrivers): Promise<Outcome<BalancerAction>[]> {
  const context: ExecuteContext<BalancerAction> = {
    node: NODE,
    stack: STACK,
    generation: 1,
    progress: { started() {}, finished() {}, activity() {} },
    release: async () => () => {},
    signal: new AbortController().signal,
    previous: {},
  };
  return executeBalancerPlan(actions, context, drivers);
}

const two = [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.3", 80, 1)];

function ensure(
  spec: Partial<BalancerSpec>,
  held: ServiceRules,
  extra: Partial<EnsureAction> = {},
): EnsureAction {
  return {
    kind: "balancer",
    node: NODE,
    stack: STACK,
    resource: "front",
    replica: 1,
    type: "ensure",
    spec: balancerSpec("front", spec),
    rules: held,
    unreachable: [],
    reason: "test",
    ...extra,
  };
}

describe("executeBalancerPlan", () => {
  it("auto on a kernel without IPVS programs nftables, table, dispatch and service in one transaction", async () => {
    const fake = fakeDrivers({ ipvs: false });
    const [outcome] = await run([ensure({ backend: "auto" }, rules({ endpoints: two }))], fake.drivers);
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.calls).toEqual([
      "pin bridges of 172.17.0.2,172.17.0.3",
      "nft list treescale prerouting",
      "nft list treescale output",
      "nft list treescale postrouting",
      "nft apply",
    ]);
    const script = fake.scripts[0]!.split("\n");
    expect(script).toContain("add table ip treescale");
    expect(script).toContain(
      "add rule ip treescale prerouting ip daddr . meta l4proto . th dport vmap @services",
    );
    expect(script).toContain(
      "add element ip treescale services { 10.0.0.10 . tcp . 443 : jump svc_shop_front }",
    );
    expect(fake.scripts[0]!.endsWith("\n")).toBe(true);
    expect(fake.batches).toEqual([]);
  });

  it("adds a dispatch rule only to a base chain that lost it", async () => {
    const fake = fakeDrivers({ ipvs: false, listing: nftListing() });
    await run([ensure({ backend: "nftables" }, rules({ endpoints: two }))], fake.drivers);
    expect(fake.scripts[0]).not.toContain("vmap @services");

    const flushed = nftListing().filter((o) => (o as { rule?: { chain: string } }).rule?.chain !== "output");
    const refill = fakeDrivers({ ipvs: false, listing: flushed });
    await run([ensure({ backend: "nftables" }, rules({ endpoints: two }))], refill.drivers);
    expect(refill.scripts[0]!.split("\n").filter((line) => line.includes("vmap @services"))).toEqual([
      "add rule ip treescale output ip daddr . meta l4proto . th dport vmap @services",
    ]);
  });

  it("auto on a kernel with IPVS records the service as TreeScale's before restoring its batch", async () => {
    const fake = fakeDrivers({
      ipvs: true,
      record: { "tcp 10.0.0.99:80": { stack: "shop", name: "other" } },
    });
    const [outcome] = await run([ensure({ backend: "auto" }, rules({ endpoints: two }))], fake.drivers);
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.calls).toEqual([
      "pin bridges of 172.17.0.2,172.17.0.3",
      "record write tcp 10.0.0.10:443,tcp 10.0.0.99:80",
      "ipvsadm restore",
    ]);
    expect(fake.record()["tcp 10.0.0.10:443"]).toEqual({ stack: "shop", name: "front" });
    expect(fake.batches).toEqual([
      "-A -t 10.0.0.10:443 -s wrr\n-a -t 10.0.0.10:443 -r 172.17.0.2:80 -m -w 2\n-a -t 10.0.0.10:443 -r 172.17.0.3:80 -m -w 1\n",
    ]);
    expect(fake.scripts).toEqual([]);
  });

  it("fails a balancer forced to ipvs on a kernel without it, saying how to fix it, and goes on", async () => {
    const fake = fakeDrivers({ ipvs: false });
    const outcomes = await run(
      [
        ensure({ backend: "ipvs" }, rules({ endpoints: two })),
        ensure({ backend: "auto" }, rules({ vip: "10.0.0.11", endpoints: two }), { resource: "next" }),
      ],
      fake.drivers,
    );
    expect(outcomes[0]).toMatchObject({ ok: false, code: "IPVS_UNAVAILABLE" });
    const error = outcomes[0]?.ok === false ? outcomes[0].error : "";
    expect(error).toContain("load the ip_vs module");
    expect(error).toContain('set backend = "nftables" or "auto" on balancer front');
    expect(outcomes[1]).toMatchObject({ ok: true });
    expect(fake.batches).toEqual([]);
  });

  it("fails an IPVS-only scheduler under auto on a kernel without IPVS, naming what nftables can do", async () => {
    const fake = fakeDrivers({ ipvs: false });
    const [outcome] = await run(
      [ensure({ backend: "auto", alg: "lc" }, rules({ alg: "lc", endpoints: two }))],
      fake.drivers,
    );
    expect(outcome).toMatchObject({ ok: false, code: "UNSUPPORTED_ALGORITHM" });
    expect(outcome?.ok === false && outcome.error).toBe(
      'balancer front: alg "lc" needs IPVS, which this kernel lacks; nftables balances with rr, wrr, sh, dh, random',
    );
    expect(fake.calls).toEqual([]);
  });

  it("removes a service that moves from nftables to IPVS from nftables first", async () => {
    const held = rules({ endpoints: two });
    const fake = fakeDrivers({ ipvs: true });
    const current = observedBalancer("front", held, { backend: "nftables" });
    const [outcome] = await run([ensure({ backend: "ipvs" }, held, { current })], fake.drivers);
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.calls).toEqual([
      "pin bridges of 172.17.0.2,172.17.0.3",
      "nft apply",
      "record write tcp 10.0.0.10:443",
      "ipvsadm restore",
    ]);
    expect(fake.scripts).toEqual([
      "delete element ip treescale services { 10.0.0.10 . tcp . 443 }\nflush chain ip treescale svc_shop_front\ndelete chain ip treescale svc_shop_front\n",
    ]);
    // The IPVS side starts from nothing: a new service, not an edit of the nftables one.
    expect(fake.batches[0]).toMatch(/^-A -t 10\.0\.0\.10:443 -s wrr\n/);
  });

  it("removes a service that moves from IPVS to nftables from IPVS and from the record", async () => {
    const held = rules({ endpoints: two });
    const fake = fakeDrivers({
      ipvs: true,
      record: { "tcp 10.0.0.10:443": { stack: "shop", name: "front" } },
    });
    const current = observedBalancer("front", held, { backend: "ipvs" });
    await run([ensure({ backend: "nftables" }, held, { current })], fake.drivers);
    expect(fake.batches).toEqual(["-D -t 10.0.0.10:443\n"]);
    expect(fake.record()).toEqual({});
    expect(fake.calls.at(-1)).toBe("nft apply");
  });

  it("removes a service from the backend that holds it", async () => {
    const held = rules({ endpoints: two });
    const fake = fakeDrivers({
      ipvs: true,
      record: { "tcp 10.0.0.10:443": { stack: "shop", name: "front" } },
    });
    const remove = (backend: "ipvs" | "nftables"): BalancerAction => ({
      kind: "balancer",
      node: NODE,
      stack: STACK,
      resource: "front",
      replica: 1,
      type: "remove",
      current: observedBalancer("front", held, { backend }),
      reason: "left the manifests",
    });
    await run([remove("ipvs"), remove("nftables")], fake.drivers);
    expect(fake.calls).toEqual(["ipvsadm restore", "record write ", "nft apply"]);
    expect(fake.scripts[0]).toContain("delete chain ip treescale svc_shop_front");
  });

  it("deletes a drained IPVS real once it has no connections left, and keeps one that still has some", async () => {
    const held = rules({ endpoints: two.slice(0, 1) });
    const since = new Date().toISOString();
    const current = (connections: number) =>
      observedBalancer("front", held, {
        backend: "ipvs",
        draining: [{ address: "172.17.0.3", port: 80, since, connections }],
      });
    const fake = fakeDrivers({ ipvs: true });
    await run([ensure({ backend: "ipvs" }, held, { current: current(0) })], fake.drivers);
    await run([ensure({ backend: "ipvs" }, held, { current: current(4) })], fake.drivers);
    expect(fake.batches).toEqual([
      "-E -t 10.0.0.10:443 -s wrr\n-d -t 10.0.0.10:443 -r 172.17.0.3:80\n",
      "-E -t 10.0.0.10:443 -s wrr\n",
    ]);
  });

  it("auto with IPVS available never asks IPVS for the random scheduler", async () => {
    const fake = fakeDrivers({ ipvs: true });
    const held = rules({ alg: "random", endpoints: two });
    await run([ensure({ backend: "auto", alg: "random" }, held)], fake.drivers);
    expect(fake.batches.join("")).not.toContain("-s random");
  });

  it("forgets the old address in the record when an IPVS service moves", async () => {
    const held = rules({ endpoints: two });
    const fake = fakeDrivers({
      ipvs: true,
      record: { "tcp 10.0.0.10:443": { stack: "shop", name: "front" } },
    });
    const current = observedBalancer("front", held, { backend: "ipvs" });
    await run([ensure({ backend: "ipvs" }, { ...held, vip: "10.0.0.11" }, { current })], fake.drivers);
    expect(fake.batches[0]).toMatch(/^-D -t 10\.0\.0\.10:443\n-A -t 10\.0\.0\.11:443 /);
    expect(Object.keys(fake.record())).toEqual(["tcp 10.0.0.11:443"]);
  });
});
