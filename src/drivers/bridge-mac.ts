// A Linux bridge given no MAC of its own takes the lowest MAC among its ports, so its MAC changes
// when that port leaves: removing one container in a rolling recreate can change docker0's MAC, and
// every other container on it goes on sending to the old one (its ARP entry for the gateway) until
// that entry is refreshed seconds later. Replies to connections the balancer sent them are lost
// meanwhile, and the clients time out. Pinning the bridge to the MAC it has now (what podman's
// netavark and LXC do when they make a bridge) changes nothing on the wire and ends that.

import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { runCommand } from "./command.js";

export type BridgeMacPinner = {
  /** Pins the bridges that carry these IPv4 addresses where their MAC still follows their ports: the bridges pinned now. */
  pinBridgesOf(addresses: readonly string[], signal?: AbortSignal): Promise<string[]>;
};

/** addr_assign_type of an address the kernel chose (a bridge's follows its ports), and of one that was set. */
const RANDOM = "1";
const NO_MAC = "00:00:00:00:00:00";

type Route = { iface: string; destination: number; mask: number };

/** The interface a directly connected IPv4 address is reached on, by the longest prefix in /proc/net/route. */
export function interfaceOf(
  routeTable: string,
  address: string,
  littleEndian = endianness() === "LE",
): string | undefined {
  const target = ipv4Number(address);
  if (target === undefined) return undefined;
  let best: Route | undefined;
  for (const route of directRoutes(routeTable, littleEndian)) {
    if ((target & route.mask) >>> 0 !== route.destination) continue;
    if (!best || prefixLength(route.mask) > prefixLength(best.mask)) best = route;
  }
  return best?.iface;
}

function directRoutes(table: string, littleEndian: boolean): Route[] {
  const RTF_UP = 0x1;
  const RTF_GATEWAY = 0x2;
  return table
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8)
    .flatMap(([iface, destination, , flags, , , , mask]) => {
      const bits = Number.parseInt(flags ?? "", 16);
      if (!iface || !(bits & RTF_UP) || bits & RTF_GATEWAY) return [];
      return [
        { iface, destination: hostOrder(destination!, littleEndian), mask: hostOrder(mask!, littleEndian) },
      ];
    });
}

/** /proc/net/route prints each address as the 32-bit word the kernel holds, in this machine's byte order. */
function hostOrder(hex: string, littleEndian: boolean): number {
  const word = Number.parseInt(hex, 16) >>> 0;
  if (!littleEndian) return word;
  return (
    (((word & 0xff) << 24) |
      (((word >>> 8) & 0xff) << 16) |
      (((word >>> 16) & 0xff) << 8) |
      (word >>> 24)) >>>
    0
  );
}

function ipv4Number(address: string): number | undefined {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function prefixLength(mask: number): number {
  let bits = 0;
  for (let m = mask; m; m = (m << 1) >>> 0) bits++;
  return bits;
}

export type BridgeMacHost = {
  routes(signal?: AbortSignal): Promise<string>;
  /** A sysfs attribute of the interface (`bridge/bridge_id`, `addr_assign_type`, `address`); undefined when absent. */
  attribute(iface: string, name: string, signal?: AbortSignal): Promise<string | undefined>;
  setAddress(iface: string, mac: string, signal?: AbortSignal): Promise<void>;
};

export const linuxBridgeHost: BridgeMacHost = {
  routes: (signal) => readFile("/proc/net/route", { encoding: "utf8", ...(signal ? { signal } : {}) }),
  async attribute(iface, name, signal) {
    try {
      const text = await readFile(`/sys/class/net/${iface}/${name}`, {
        encoding: "utf8",
        ...(signal ? { signal } : {}),
      });
      return text.trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  },
  async setAddress(iface, mac, signal) {
    await runCommand("ip", ["link", "set", "dev", iface, "address", mac], signal ? { signal } : {});
  },
};

export function bridgeMacPinner(host: BridgeMacHost = linuxBridgeHost): BridgeMacPinner {
  return {
    async pinBridgesOf(addresses, signal) {
      const table = await host.routes(signal);
      const interfaces = new Set(addresses.flatMap((a) => interfaceOf(table, a) ?? []));
      const pinned: string[] = [];
      for (const iface of interfaces) {
        // Interface names come from the kernel's table, never from a manifest; checked anyway, as a path part.
        if (!/^[\w.@-]{1,15}$/.test(iface)) continue;
        if ((await host.attribute(iface, "bridge/bridge_id", signal)) === undefined) continue;
        if ((await host.attribute(iface, "addr_assign_type", signal)) !== RANDOM) continue;
        const mac = await host.attribute(iface, "address", signal);
        if (!mac || mac === NO_MAC) continue;
        await host.setAddress(iface, mac, signal);
        pinned.push(iface);
      }
      return pinned;
    },
  };
}
