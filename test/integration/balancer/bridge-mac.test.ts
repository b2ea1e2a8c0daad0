// The bridge MAC pin on a real Linux bridge: a bridge made here, with two veth ports and an address
// of its own, as Docker makes docker0. Without the pin, removing the port whose MAC the bridge took
// changes the bridge's MAC (what left containers' replies going to a MAC nobody holds during a rolling
// recreate behind the balancer); once pinned, it keeps its MAC whatever leaves.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { bridgeMacPinner } from "../../../src/drivers/bridge-mac.js";

const made: string[] = [];
const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
const attribute = (iface: string, name: string) =>
  readFileSync(`/sys/class/net/${iface}/${name}`, "utf8").trim();

/** A bridge at 10.254.N.1/24 with two ports; the name of the port whose MAC it took. */
function bridgeWithTwoPorts(octet: number): { bridge: string; lowestPort: string } {
  const id = randomBytes(3).toString("hex");
  const bridge = `tsbm${id}`;
  ip("link", "add", bridge, "type", "bridge");
  made.push(bridge);
  const ports = ["a", "b"].map((side) => {
    const port = `tsbm${id}${side}`;
    ip("link", "add", port, "type", "veth", "peer", "name", `${port}p`);
    made.push(port);
    ip("link", "set", port, "master", bridge);
    ip("link", "set", port, "up");
    ip("link", "set", `${port}p`, "up");
    return port;
  });
  ip("addr", "add", `10.254.${octet}.1/24`, "dev", bridge);
  ip("link", "set", bridge, "up");
  const lowestPort = ports.find((port) => attribute(port, "address") === attribute(bridge, "address"));
  if (!lowestPort)
    throw new Error(`bridge ${bridge} took none of its ports' MACs: the test's premise does not hold`);
  return { bridge, lowestPort };
}

afterEach(() => {
  for (const link of made.splice(0).reverse()) {
    try {
      ip("link", "del", link);
    } catch {
      // A veth goes with its peer, a port with its bridge: already gone.
    }
  }
});

describe("pinning a bridge's MAC", () => {
  it("without the pin, the bridge's MAC moves when its lowest port leaves (the fault)", () => {
    const { bridge, lowestPort } = bridgeWithTwoPorts(201);
    const before = attribute(bridge, "address");
    ip("link", "del", lowestPort);
    expect(attribute(bridge, "address")).not.toBe(before);
  });

  it("pins the bridge carrying a backend's address to its MAC now; it keeps it when that port leaves", async () => {
    const { bridge, lowestPort } = bridgeWithTwoPorts(202);
    const before = attribute(bridge, "address");
    expect(attribute(bridge, "addr_assign_type")).toBe("1");

    const pinner = bridgeMacPinner();
    expect(await pinner.pinBridgesOf(["10.254.202.7", "10.254.202.8"])).toEqual([bridge]);
    expect(attribute(bridge, "addr_assign_type")).toBe("3");
    expect(attribute(bridge, "address")).toBe(before);

    ip("link", "del", lowestPort);
    expect(attribute(bridge, "address")).toBe(before);
    // Pinned once: asked again, it has nothing to do.
    expect(await pinner.pinBridgesOf(["10.254.202.7"])).toEqual([]);
  });
});
