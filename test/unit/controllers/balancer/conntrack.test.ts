import { describe, expect, it } from "vitest";
import { parseConntrack, withConnections } from "../../../../controllers/balancer/conntrack.js";
import { endpoint, observedBalancer, rules } from "./fixtures.js";

// Lines in the shape /proc/net/nf_conntrack prints them (kernel 6.x): original tuple, then reply tuple.
const TABLE = [
  // A client on the host to the VIP, DNATed to 172.17.0.2:80, open.
  "ipv4     2 tcp      6 431999 ESTABLISHED src=172.17.0.1 dst=10.0.0.10 sport=40100 dport=443 src=172.17.0.2 dst=172.17.0.1 sport=80 dport=40100 [ASSURED] mark=0 zone=0 use=2",
  "ipv4     2 tcp      6 431999 ESTABLISHED src=172.17.0.1 dst=10.0.0.10 sport=40101 dport=443 src=172.17.0.2 dst=172.17.0.1 sport=80 dport=40101 [ASSURED] mark=0 zone=0 use=2",
  // Just opened to another backend.
  "ipv4     2 tcp      6 119 SYN_SENT src=172.17.0.1 dst=10.0.0.10 sport=40102 dport=443 [UNREPLIED] src=172.17.0.3 dst=172.17.0.1 sport=80 dport=40102 mark=0 zone=0 use=2",
  // Over: lingers for two minutes, must not hold a drain.
  "ipv4     2 tcp      6 117 TIME_WAIT src=172.17.0.1 dst=10.0.0.10 sport=40000 dport=443 src=172.17.0.4 dst=172.17.0.1 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2",
  // Not translated: nothing of a balancer's.
  "ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=56866 dport=35689 src=127.0.0.1 dst=127.0.0.1 sport=35689 dport=56866 [ASSURED] mark=0 zone=0 use=2",
  // UDP has no state word.
  "ipv4     2 udp      17 28 src=172.17.0.1 dst=10.0.0.11 sport=5000 dport=53 src=172.17.0.5 dst=172.17.0.1 sport=53 dport=5000 mark=0 zone=0 use=2",
  "ipv6     10 tcp      6 431999 ESTABLISHED src=::1 dst=::1 sport=1 dport=2 src=::1 dst=::1 sport=2 dport=1 [ASSURED] mark=0 zone=0 use=2",
  "",
].join("\n");

describe("balancer — connections from conntrack", () => {
  it("counts live translated connections per service and backend, not finished or untranslated ones", () => {
    const counts = parseConntrack(TABLE);
    expect(Object.fromEntries([...counts].map(([k, v]) => [k, Object.fromEntries(v)]))).toEqual({
      "tcp 10.0.0.10:443": { "172.17.0.2:80": 2, "172.17.0.3:80": 1 },
      "udp 10.0.0.11:53": { "172.17.0.5:53": 1 },
    });
  });

  it("reads a backend out of the dispatch that still holds connections as draining, since first seen so", () => {
    const service = observedBalancer("front", rules({ port: 443, endpoints: [endpoint("172.17.0.3", 80)] }));
    const since = new Map<string, string>();
    const t0 = Date.parse("2026-11-28T10:00:00Z");
    const [first] = withConnections([service], parseConntrack(TABLE), since, t0);
    expect(first?.connections).toEqual({ "172.17.0.3:80": 1, "172.17.0.2:80": 2 });
    expect(first?.draining).toEqual([
      { address: "172.17.0.2", port: 80, since: "2026-11-28T10:00:00.000Z", connections: 2, elapsedMs: 0 },
    ]);
    const [later] = withConnections([service], parseConntrack(TABLE), since, t0 + 4000);
    expect(later?.draining[0]?.elapsedMs).toBe(4000);
    // Its connections ended: no longer draining, and forgotten.
    const [done] = withConnections([service], parseConntrack(""), since, t0 + 5000);
    expect(done?.draining).toEqual([]);
    expect(done?.connections).toEqual({ "172.17.0.3:80": 0 });
    expect(since.size).toBe(0);
  });
});
