// nftables through the `nft` tool: one transaction per call (`nft -f -`), and the table's listing
// as JSON. Only TreeScale's own table is ever named here.
import { runCommand } from "./command.js";

export type NftRunner = {
  /** Applies a whole script as one transaction: all of it or nothing. */
  apply(script: string, signal?: AbortSignal): Promise<void>;
  /** `nft -j list table ip NAME`, parsed; undefined when the table does not exist. */
  listTable(table: string, signal?: AbortSignal): Promise<unknown[] | undefined>;
};

export const nft: NftRunner = {
  async apply(script, signal) {
    await runCommand("nft", ["-f", "-"], { input: script, ...(signal ? { signal } : {}) });
  },
  async listTable(table, signal) {
    try {
      const text = await runCommand("nft", ["-j", "list", "table", "ip", table], signal ? { signal } : {});
      return (JSON.parse(text) as { nftables?: unknown[] }).nftables ?? [];
    } catch (error) {
      if (/No such file or directory/.test((error as Error).message)) return undefined;
      throw error;
    }
  },
};
