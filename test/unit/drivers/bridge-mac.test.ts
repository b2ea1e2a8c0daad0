import { describe, expect, it } from "vitest";
import { bridgeMacPinner, interfaceOf } from "../../../src/drivers/bridge-mac.js";

// As this machine's kernel printed it (x86, little-endian words): default via eth0, docker0 on 172.17/16.
const TABLE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
br-9\t00FD11AC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

describe("interfaceOf", () => {
  it("finds the directly connected interface by the longest prefix, never a gateway route", () => {
    expect(interfaceOf(TABLE, "172.17.0.3", true)).toBe("docker0");
    expect(interfaceOf(TABLE, "172.17.253.9", true)).toBe("br-9");
    expect(interfaceOf(TABLE, "192.0.2.7", true)).toBe("eth0");
    // Only the default route (through a gateway) matches: not on a local link.
    expect(interfaceOf(TABLE, "10.1.2.3", true)).toBeUndefined();
    expect(interfaceOf(TABLE, "not-an-address", true)).toBeUndefined();
  });

  it("reads the words in big-endian order on a big-endian machine", () => {
    const big =
      "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nbr0\tAC110000\t00000000\t0001\t0\t0\t0\tFFFF0000\n";
    expect(interfaceOf(big, "172.17.5.5", false)).toBe("br0");
  });
});

describe("bridgeMacPinner", () => {
  it("pins a bridge whose MAC follows its ports, to the MAC it has now; leaves set ones and non-bridges", async () => {
    const attributes: Record<string, Record<string, string>> = {
      docker0: {
        "bridge/bridge_id": "8000.0a60c40a1b43",
        addr_assign_type: "1",
        address: "0a:60:c4:0a:1b:43",
      },
      "br-9": { "bridge/bridge_id": "8000.02aa", addr_assign_type: "3", address: "02:aa:00:00:00:01" },
      eth0: { addr_assign_type: "0", address: "52:54:00:00:00:01" },
    };
    const set: string[] = [];
    const pinner = bridgeMacPinner({
      routes: async () => TABLE,
      attribute: async (iface, name) => attributes[iface]?.[name],
      setAddress: async (iface, mac) => {
        set.push(`${iface} ${mac}`);
      },
    });
    const pinned = await pinner.pinBridgesOf(["172.17.0.2", "172.17.0.3", "172.17.253.4", "192.0.2.9"]);
    expect(pinned).toEqual(["docker0"]);
    expect(set).toEqual(["docker0 0a:60:c4:0a:1b:43"]);
  });
});
