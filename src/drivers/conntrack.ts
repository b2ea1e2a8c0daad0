// The kernel's connection tracking table, read from procfs: what tells how many connections a
// balancer's backend still holds when nftables (which keeps no counters per backend) dispatches.
import { readFile } from "node:fs/promises";

export type ConntrackReader = {
  /** The table as text; undefined where it cannot be read (no nf_conntrack, no procfs in this namespace). */
  read(signal?: AbortSignal): Promise<string | undefined>;
};

export function conntrackReader(path = "/proc/net/nf_conntrack"): ConntrackReader {
  return {
    async read(signal) {
      try {
        return await readFile(path, { encoding: "utf8", ...(signal ? { signal } : {}) });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === "ENOENT" || code === "EACCES" || code === "EPERM") return undefined;
        throw error;
      }
    },
  };
}
