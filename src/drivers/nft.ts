// nftables through the `nft` tool: one transaction per call (`nft -f -`), and the table's listing
// as JSON. Only TreeScale's own table is ever named here.
import { runCommand } from "./command.js";

export type NftRunner = {
  /** Applies a whole script as one transaction: all of it or nothing. */
  apply(script: string, signal?: AbortSignal): Promise<void>;
  /** `nft -j list table ip NAME`, parsed; undefined when the table does not exist. */
  listTable(table: string, signal?: AbortSignal): Promise<unknown[] | undefined>;
  /** One chain of it: what a change needs to look at, whatever the size of the table. */
  listChain(table: string, chain: string, signal?: AbortSignal): Promise<unknown[] | undefined>;
};

async function list(args: string[], signal?: AbortSignal): Promise<unknown[] | undefined> {
  try {
    const text = await runCommand("nft", ["-j", "list", ...args], signal ? { signal } : {});
    return (JSON.parse(text) as { nftables?: unknown[] }).nftables ?? [];
  } catch (error) {
    if (/No such file or directory/.test((error as Error).message)) return undefined;
    throw error;
  }
}

export const nft: NftRunner = {
  async apply(script, signal) {
    await runCommand("nft", ["-f", "-"], { input: script, ...(signal ? { signal } : {}) });
  },
  listTable: (table, signal) => list(["table", "ip", table], signal),
  listChain: (table, chain, signal) => list(["chain", "ip", table, chain], signal),
};
