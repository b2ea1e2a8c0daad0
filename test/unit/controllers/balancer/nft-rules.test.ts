import { describe, expect, it } from "vitest";
import {
  baseScript,
  dispatchMissing,
  ensureScript,
  parseTable,
  removeScript,
} from "../../../../controllers/balancer/nft-rules.js";
import { sameRules } from "../../../../controllers/balancer/plan.js";
import type { ServiceRules } from "../../../../controllers/balancer/types.js";
import { endpoint, NFT_LISTING_SCRIPT, nftListing, observedBalancer, rules } from "./fixtures.js";

const two = [endpoint("172.17.0.2", 80), endpoint("172.17.0.3", 80)];

/** The one dnat rule ensureScript writes for `held`. */
function ruleFor(held: ServiceRules): string | undefined {
  return ensureScript("shop", "front", held).find((line) => line.startsWith("add rule"));
}

/** The services the fixture listing was made from (see test/fixtures/balancer/nftables-listing.nft). */
const rendered: Record<string, ServiceRules> = {
  web: rules({
    alg: "wrr",
    endpoints: [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.3", 80, 1), endpoint("172.17.0.10", 80, 3)],
  }),
  dns: rules({
    port: 53,
    protocol: "udp",
    alg: "rr",
    endpoints: [endpoint("172.17.0.5", 53), endpoint("172.17.0.6", 53)],
  }),
  sticky: rules({
    vip: "10.0.0.11",
    port: 80,
    alg: "sh",
    endpoints: [endpoint("172.17.0.2", 8080), endpoint("172.17.0.3", 8080, 2)],
  }),
  dest: rules({ vip: "10.0.0.12", port: 80, alg: "dh", endpoints: [endpoint("172.17.0.2", 80)] }),
  lottery: rules({ vip: "10.0.0.13", port: 80, alg: "random", endpoints: two }),
  empty: rules({ vip: "10.0.0.14", port: 80, alg: "rr", endpoints: [] }),
  remote: rules({
    vip: "10.0.0.17",
    port: 80,
    alg: "rr",
    endpoints: [
      { ...endpoint("172.17.0.2", 80), target: "" },
      { ...endpoint("192.168.50.2", 18080), via: "node2" },
    ],
  }),
};

describe("ensureScript", () => {
  it("makes the service's chain, its dnat rule and its map element, in that order", () => {
    expect(ensureScript("shop", "front", rules({ alg: "rr", endpoints: two }))).toEqual([
      "add chain ip treescale svc_shop_front",
      "flush chain ip treescale svc_shop_front",
      'add rule ip treescale svc_shop_front meta l4proto tcp dnat ip to numgen inc mod 2 map { 0 : 172.17.0.2 . 80, 1 : 172.17.0.3 . 80 } comment "treescale rr"',
      "add element ip treescale services { 10.0.0.10 . tcp . 443 : jump svc_shop_front }",
    ]);
  });

  it("gives wrr endpoints as many consecutive slots as their weight", () => {
    const held = rules({
      alg: "wrr",
      endpoints: [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.3", 80, 1)],
    });
    expect(ruleFor(held)).toBe(
      'add rule ip treescale svc_shop_front meta l4proto tcp dnat ip to numgen inc mod 3 map { 0-1 : 172.17.0.2 . 80, 2 : 172.17.0.3 . 80 } comment "treescale wrr"',
    );
  });

  it("dispatches random by numgen random, sh by a hash of the client, dh by a hash of the destination", () => {
    expect(ruleFor(rules({ alg: "random", endpoints: two }))).toBe(
      'add rule ip treescale svc_shop_front meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 172.17.0.2 . 80, 1 : 172.17.0.3 . 80 } comment "treescale random"',
    );
    expect(ruleFor(rules({ alg: "sh", endpoints: two }))).toBe(
      'add rule ip treescale svc_shop_front meta l4proto tcp dnat ip to jhash ip saddr mod 2 map { 0 : 172.17.0.2 . 80, 1 : 172.17.0.3 . 80 } comment "treescale sh"',
    );
    expect(ruleFor(rules({ alg: "dh", endpoints: two }))).toBe(
      'add rule ip treescale svc_shop_front meta l4proto tcp dnat ip to jhash ip daddr mod 2 map { 0 : 172.17.0.2 . 80, 1 : 172.17.0.3 . 80 } comment "treescale dh"',
    );
  });

  it("matches udp for a udp service", () => {
    expect(ruleFor(rules({ protocol: "udp", alg: "rr", endpoints: two }))).toMatch(/ meta l4proto udp dnat /);
    expect(ensureScript("shop", "front", rules({ protocol: "udp", port: 53 })).at(-1)).toBe(
      "add element ip treescale services { 10.0.0.10 . udp . 53 : jump svc_shop_front }",
    );
  });

  it("writes no dnat rule for a service without endpoints, leaving its chain empty", () => {
    expect(ensureScript("shop", "front", rules({ endpoints: [] }))).toEqual([
      "add chain ip treescale svc_shop_front",
      "flush chain ip treescale svc_shop_front",
      "add element ip treescale services { 10.0.0.10 . tcp . 443 : jump svc_shop_front }",
    ]);
  });

  it("deletes the old map element before adding the new one when the address moves", () => {
    const before = rules({ alg: "rr", endpoints: two });
    const moved = { ...before, vip: "10.0.0.11", port: 80 };
    expect(ensureScript("shop", "front", moved, before).slice(3)).toEqual([
      "delete element ip treescale services { 10.0.0.10 . tcp . 443 }",
      "add element ip treescale services { 10.0.0.11 . tcp . 80 : jump svc_shop_front }",
    ]);
    const protocolChanged = { ...before, protocol: "udp" as const };
    expect(ensureScript("shop", "front", protocolChanged, before)).toContain(
      "delete element ip treescale services { 10.0.0.10 . tcp . 443 }",
    );
  });

  it("deletes no element when the address stays, or when the chain had none", () => {
    const before = rules({ alg: "rr", endpoints: two });
    const deletes = (current: ServiceRules) =>
      ensureScript("shop", "front", rules({ alg: "wrr", endpoints: two }), current).filter((line) =>
        line.startsWith("delete"),
      );
    expect(deletes(before)).toEqual([]);
    expect(deletes({ ...before, vip: "" })).toEqual([]);
  });

  it("refuses a scheduler nftables cannot dispatch with", () => {
    expect(() => ensureScript("shop", "front", rules({ alg: "lc", endpoints: two }))).toThrow(
      'nftables cannot schedule with "lc"',
    );
  });
});

describe("removeScript", () => {
  it("deletes the map element, then flushes and deletes the chain", () => {
    expect(removeScript("shop", "front", rules({ alg: "rr", endpoints: two }))).toEqual([
      "delete element ip treescale services { 10.0.0.10 . tcp . 443 }",
      "flush chain ip treescale svc_shop_front",
      "delete chain ip treescale svc_shop_front",
    ]);
  });

  it("deletes only the chain of a service that has no map element", () => {
    expect(removeScript("shop", "front", rules({ vip: "" }))).toEqual([
      "flush chain ip treescale svc_shop_front",
      "delete chain ip treescale svc_shop_front",
    ]);
  });
});

describe("baseScript", () => {
  const table = [
    "add table ip treescale",
    "add map ip treescale services { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "add chain ip treescale prerouting { type nat hook prerouting priority dstnat; policy accept; }",
    "add chain ip treescale output { type nat hook output priority -100; policy accept; }",
    "add chain ip treescale postrouting { type nat hook postrouting priority srcnat; policy accept; }",
  ];
  const masquerade =
    'add rule ip treescale postrouting ct status dnat ct mark and 0x00010000 == 0x00010000 meta oifkind != "bridge" masquerade';

  it("adds the dispatch and masquerade rules only to the base chains that miss them", () => {
    expect(baseScript({ prerouting: true, output: true, postrouting: true })).toEqual([
      ...table,
      "add rule ip treescale prerouting ip daddr . meta l4proto . th dport vmap @services",
      "add rule ip treescale output ip daddr . meta l4proto . th dport vmap @services",
      masquerade,
    ]);
    expect(baseScript({ prerouting: false, output: true, postrouting: false })).toEqual([
      ...table,
      "add rule ip treescale output ip daddr . meta l4proto . th dport vmap @services",
    ]);
    expect(baseScript({ prerouting: false, output: false, postrouting: false })).toEqual(table);
  });

  it("reads from a listing which base chains miss their rule", () => {
    const listing = nftListing();
    const none = { prerouting: false, output: false, postrouting: false };
    expect(dispatchMissing(listing)).toEqual(none);
    expect(dispatchMissing(undefined)).toEqual({ prerouting: true, output: true, postrouting: true });
    for (const chain of ["output", "postrouting"] as const) {
      const flushed = listing.filter((o) => (o as { rule?: { chain?: string } }).rule?.chain !== chain);
      expect(dispatchMissing(flushed)).toEqual({ ...none, [chain]: true });
    }
  });
});

describe("ensureScript — backends on nodes below", () => {
  it("marks the connections of a service with a backend reached through a child server, for masquerading", () => {
    const [, , rule] = ensureScript("shop", "remote", rendered.remote!);
    expect(rule).toBe(
      'add rule ip treescale svc_shop_remote ct mark set ct mark or 0x00010000 meta l4proto tcp dnat ip to numgen inc mod 2 map { 0 : 172.17.0.2 . 80, 1 : 192.168.50.2 . 18080 } comment "treescale rr"',
    );
    const [, , local] = ensureScript("shop", "web", rendered.web!);
    expect(local).not.toContain("ct mark");
  });
});

describe("parseTable (a real `nft -j list table` listing)", () => {
  const byResource = (listing = nftListing()) =>
    new Map(parseTable(listing, "node1").map((service) => [service.resource, service]));

  it("reads one service per svc_ chain, and nothing from other chains", () => {
    expect([...byResource().keys()].sort()).toEqual([
      "dest",
      "dns",
      "doubled",
      "empty",
      "lottery",
      "manual",
      "orphan",
      "remote",
      "sticky",
      "web",
    ]);
  });

  it("reads address, port and protocol from the map element, alg from the comment, weights from the slots", () => {
    expect(byResource().get("web")).toEqual(
      observedBalancer("web", {
        vip: "10.0.0.10",
        port: 443,
        protocol: "tcp",
        alg: "wrr",
        endpoints: [
          endpoint("172.17.0.2", 80, 2),
          endpoint("172.17.0.3", 80, 1),
          endpoint("172.17.0.10", 80, 3),
        ],
      }),
    );
    expect(byResource().get("dns")?.rules).toEqual({
      vip: "10.0.0.10",
      port: 53,
      protocol: "udp",
      alg: "rr",
      endpoints: [endpoint("172.17.0.5", 53), endpoint("172.17.0.6", 53)],
    });
  });

  it("reads a rule without TreeScale's comment, or a chain with a second rule, as changed by hand", () => {
    const services = byResource();
    expect(services.get("manual")?.rules).toEqual({
      vip: "10.0.0.15",
      port: 80,
      protocol: "tcp",
      alg: "(changed by hand)",
      endpoints: [],
    });
    expect(services.get("doubled")?.rules).toMatchObject({ alg: "(changed by hand)", endpoints: [] });
  });

  it('reads a chain without a map element with address ""', () => {
    expect(byResource().get("orphan")?.rules).toEqual({
      vip: "",
      port: 0,
      protocol: "tcp",
      alg: "rr",
      endpoints: [endpoint("172.17.0.2", 80)],
    });
  });

  it("round trip: what ensureScript wrote reads back as the same rules", () => {
    const services = byResource();
    for (const name of ["web", "dns", "sticky", "dest", "lottery", "remote"]) {
      const desired = rendered[name]!;
      const held = services.get(name)?.rules;
      expect(held && sameRules(held, desired), name).toBe(true);
    }
  });

  it("the listing was made from what baseScript and ensureScript render today", () => {
    // Guards the round trip: nftables-listing.nft is the script the listing was made from.
    const script = NFT_LISTING_SCRIPT.split("\n");
    const expected = [
      ...baseScript({ prerouting: true, output: true, postrouting: true }),
      ...Object.entries(rendered).flatMap(([name, desired]) => ensureScript("shop", name, desired)),
    ];
    expect(script.filter((line) => !line.startsWith("#")).slice(0, expected.length)).toEqual(expected);
  });

  it("round trip: a service without endpoints reads back as the same rules", () => {
    const held = byResource().get("empty")?.rules;
    expect(held && sameRules(held, rendered.empty!)).toBe(true);
  });

  it("reads a rule whose dispatch does not match its comment as changed by hand", () => {
    const listing = nftListing();
    for (const object of listing) {
      const rule = (object as { rule?: { chain: string; comment?: string } }).rule;
      if (rule?.chain === "svc_shop_lottery") rule.comment = "treescale rr";
    }
    expect(byResource(listing).get("lottery")?.rules.alg).toBe("(changed by hand)");
  });
});
