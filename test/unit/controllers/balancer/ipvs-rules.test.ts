import { describe, expect, it } from "vitest";
import {
  ensureBatch,
  observeIpvs,
  parseConnections,
  parseSave,
  removeBatch,
} from "../../../../controllers/balancer/ipvs-rules.js";
import { endpoint, IPVSADM_LIST, IPVSADM_SAVE, observedBalancer, rules } from "./fixtures.js";

const RECORD = {
  "tcp 10.0.0.10:443": { stack: "shop", name: "front" },
  "udp 10.0.0.10:53": { stack: "shop", name: "dns" },
  "tcp 10.0.0.11:80": { stack: "shop", name: "sticky" },
  // Recorded, but the kernel no longer holds it.
  "tcp 10.0.0.99:80": { stack: "shop", name: "gone" },
};

const never = () => false;
const always = () => true;

describe("parseSave (`ipvsadm -S -n`)", () => {
  it("reads every service with its scheduler and its real servers' weights and forwarding method", () => {
    expect(parseSave(IPVSADM_SAVE)).toEqual([
      {
        protocol: "tcp",
        vip: "10.0.0.10",
        port: 443,
        scheduler: "wrr",
        reals: [
          { address: "172.17.0.10", port: 80, weight: 3, method: "-m" },
          { address: "172.17.0.2", port: 80, weight: 2, method: "-m" },
          { address: "172.17.0.3", port: 80, weight: 0, method: "-m" },
        ],
      },
      {
        protocol: "tcp",
        vip: "10.0.0.11",
        port: 80,
        scheduler: "rr",
        reals: [{ address: "172.17.0.7", port: 80, weight: 1, method: "-m" }],
      },
      {
        protocol: "tcp",
        vip: "192.168.1.1",
        port: 22,
        scheduler: "wlc",
        reals: [{ address: "192.168.1.2", port: 22, weight: 1, method: "-g" }],
      },
      {
        protocol: "udp",
        vip: "10.0.0.10",
        port: 53,
        scheduler: "rr",
        reals: [
          { address: "172.17.0.5", port: 53, weight: 1, method: "-m" },
          { address: "172.17.0.6", port: 53, weight: 1, method: "-m" },
        ],
      },
    ]);
  });

  it("skips fwmark services and blank lines", () => {
    expect(parseSave("-A -f 1 -s rr\n-a -f 1 -r 10.1.1.1:0 -g -w 1\n\n")).toEqual([]);
  });
});

describe("parseConnections (`ipvsadm -L -n`)", () => {
  it("counts active and inactive connections per service and real server, past the header lines", () => {
    expect(Object.fromEntries(parseConnections(IPVSADM_LIST))).toEqual({
      "tcp 10.0.0.10:443 → 172.17.0.10:80": 8,
      "tcp 10.0.0.10:443 → 172.17.0.2:80": 10,
      "tcp 10.0.0.10:443 → 172.17.0.3:80": 3,
      "tcp 10.0.0.11:80 → 172.17.0.7:80": 0,
      "tcp 192.168.1.1:22 → 192.168.1.2:22": 5,
      "udp 10.0.0.10:53 → 172.17.0.5:53": 12,
      "udp 10.0.0.10:53 → 172.17.0.6:53": 0,
    });
  });
});

describe("observeIpvs", () => {
  const since = new Map([["tcp 10.0.0.10:443 → 172.17.0.3:80", "2026-01-01T00:00:05.000Z"]]);
  const observed = () =>
    observeIpvs(
      parseSave(IPVSADM_SAVE),
      RECORD,
      parseConnections(IPVSADM_LIST),
      "node1",
      since,
      Date.parse("2026-01-01T00:01:00.000Z"),
    );

  it("returns only the services TreeScale recorded, never another's, nor a recorded one the kernel lost", () => {
    expect(observed().map((o) => `${o.resource} ${o.rules.protocol} ${o.rules.vip}:${o.rules.port}`)).toEqual(
      ["front tcp 10.0.0.10:443", "sticky tcp 10.0.0.11:80", "dns udp 10.0.0.10:53"],
    );
  });

  it("lists weight-0 reals as draining, with their connections and since when, out of the rules", () => {
    expect(observed()[0]).toEqual(
      observedBalancer(
        "front",
        rules({ alg: "wrr", endpoints: [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.10", 80, 3)] }),
        {
          backend: "ipvs",
          draining: [
            {
              address: "172.17.0.3",
              port: 80,
              since: "2026-01-01T00:00:05.000Z",
              connections: 3,
              elapsedMs: 55_000,
            },
          ],
          connections: { "172.17.0.10:80": 8, "172.17.0.2:80": 10, "172.17.0.3:80": 3 },
        },
      ),
    );
  });

  it("dates a drain it has no time for from now (after a restart, say): its connections get the whole drain time", () => {
    const now = Date.parse("2026-01-01T00:01:00.000Z");
    const fresh = observeIpvs(parseSave(IPVSADM_SAVE), RECORD, new Map(), "node1", new Map(), now);
    expect(fresh[0]?.draining).toEqual([
      { address: "172.17.0.3", port: 80, since: "2026-01-01T00:01:00.000Z", connections: 0, elapsedMs: 0 },
    ]);
  });
});

describe("ensureBatch", () => {
  const held = rules({
    alg: "wrr",
    endpoints: [endpoint("172.17.0.2", 80, 2), endpoint("172.17.0.3", 80, 1)],
  });

  it("adds a new service, then each real server masqueraded with its weight", () => {
    expect(ensureBatch(held, undefined, never)).toEqual([
      "-A -t 10.0.0.10:443 -s wrr",
      "-a -t 10.0.0.10:443 -r 172.17.0.2:80 -m -w 2",
      "-a -t 10.0.0.10:443 -r 172.17.0.3:80 -m -w 1",
    ]);
    expect(
      ensureBatch(
        rules({ protocol: "udp", port: 53, alg: "rr", endpoints: [endpoint("172.17.0.5", 53)] }),
        undefined,
        never,
      ),
    ).toEqual(["-A -u 10.0.0.10:53 -s rr", "-a -u 10.0.0.10:53 -r 172.17.0.5:53 -m -w 1"]);
  });

  it("edits an existing service and sends only the reals that changed", () => {
    const current = observedBalancer("front", held, { backend: "ipvs" });
    const wanted = rules({
      alg: "wrr",
      endpoints: [
        endpoint("172.17.0.2", 80, 2),
        endpoint("172.17.0.3", 80, 4),
        endpoint("172.17.0.4", 80, 1),
      ],
    });
    expect(ensureBatch(wanted, current, never)).toEqual([
      "-E -t 10.0.0.10:443 -s wrr",
      "-e -t 10.0.0.10:443 -r 172.17.0.3:80 -m -w 4",
      "-a -t 10.0.0.10:443 -r 172.17.0.4:80 -m -w 1",
    ]);
    expect(ensureBatch({ ...held, alg: "sh" }, current, never)).toEqual(["-E -t 10.0.0.10:443 -s sh"]);
  });

  it("drains a leaving real with weight 0 first, and deletes it only once its drain is finished", () => {
    const current = observedBalancer("front", held, { backend: "ipvs" });
    const without3 = { ...held, endpoints: held.endpoints.slice(0, 1) };
    expect(ensureBatch(without3, current, always)).toEqual([
      "-E -t 10.0.0.10:443 -s wrr",
      "-e -t 10.0.0.10:443 -r 172.17.0.3:80 -m -w 0",
    ]);

    const drained = observedBalancer("front", without3, {
      backend: "ipvs",
      draining: [{ address: "172.17.0.3", port: 80, since: "2026-01-01T00:00:00.000Z", connections: 2 }],
    });
    const asked: { address: string; port: number }[] = [];
    expect(
      ensureBatch(without3, drained, (e) => {
        asked.push(e);
        return false;
      }),
    ).toEqual(["-E -t 10.0.0.10:443 -s wrr"]);
    expect(asked).toEqual([{ address: "172.17.0.3", port: 80 }]);
    expect(ensureBatch(without3, drained, always)).toEqual([
      "-E -t 10.0.0.10:443 -s wrr",
      "-d -t 10.0.0.10:443 -r 172.17.0.3:80",
    ]);
  });

  it("brings a draining real back with its weight instead of adding it again", () => {
    const drained = observedBalancer(
      "front",
      { ...held, endpoints: held.endpoints.slice(0, 1) },
      {
        backend: "ipvs",
        draining: [{ address: "172.17.0.3", port: 80, since: "2026-01-01T00:00:00.000Z", connections: 2 }],
      },
    );
    expect(ensureBatch(held, drained, always)).toEqual([
      "-E -t 10.0.0.10:443 -s wrr",
      "-e -t 10.0.0.10:443 -r 172.17.0.3:80 -m -w 1",
    ]);
  });

  it("removes the service at the old address when the address moves, then adds it at the new one", () => {
    const current = observedBalancer("front", held, { backend: "ipvs" });
    expect(ensureBatch({ ...held, vip: "10.0.0.11", port: 80 }, current, never)).toEqual([
      "-D -t 10.0.0.10:443",
      "-A -t 10.0.0.11:80 -s wrr",
      "-a -t 10.0.0.11:80 -r 172.17.0.2:80 -m -w 2",
      "-a -t 10.0.0.11:80 -r 172.17.0.3:80 -m -w 1",
    ]);
    expect(ensureBatch({ ...held, protocol: "udp" }, current, never).slice(0, 2)).toEqual([
      "-D -t 10.0.0.10:443",
      "-A -u 10.0.0.10:443 -s wrr",
    ]);
  });

  it("never clears the table, and names no service but the one it was given (and the one it leaves)", () => {
    const current = observedBalancer("front", held, {
      backend: "ipvs",
      draining: [{ address: "172.17.0.9", port: 80, since: "2026-01-01T00:00:00.000Z", connections: 0 }],
    });
    const batches = [
      ensureBatch(held, undefined, always),
      ensureBatch(rules({ alg: "rr", endpoints: [endpoint("172.17.0.4", 80)] }), current, always),
      ensureBatch({ ...held, vip: "10.0.0.11" }, current, always),
    ];
    for (const line of batches.flat()) {
      expect(line).not.toMatch(/^-C|--clear/);
      expect(line).toMatch(/^-[ADEade] -t 10\.0\.0\.1[01]:443( |$)/);
    }
  });

  it("writes an IPv6 virtual address in brackets", () => {
    expect(ensureBatch(rules({ vip: "fd00::10", alg: "rr" }), undefined, never)).toEqual([
      "-A -t [fd00::10]:443 -s rr",
    ]);
  });
});

describe("removeBatch", () => {
  it("deletes the whole service, which takes its real servers with it", () => {
    expect(removeBatch(observedBalancer("front", rules(), { backend: "ipvs" }))).toEqual([
      "-D -t 10.0.0.10:443",
    ]);
    expect(
      removeBatch(observedBalancer("dns", rules({ protocol: "udp", port: 53 }), { backend: "ipvs" })),
    ).toEqual(["-D -u 10.0.0.10:53"]);
  });
});
