// IPVS through the `ipvsadm` tool: the kernel's services in `ipvsadm -S -n` form, and one batch
// applied with `ipvsadm -R` (never -C: services TreeScale did not make are never touched).
import { access } from "node:fs/promises";
import { runCommand } from "./command.js";

/** The IPVS services TreeScale made on a node (IPVS holds no labels): `tcp 10.0.0.10:443` → stack and name. */
export type IpvsRecord = Record<string, { stack: string; name: string }>;

export type IpvsRunner = {
  /** The kernel has IP_VS (its /proc file exists). */
  available(): Promise<boolean>;
  save(signal?: AbortSignal): Promise<string>;
  /** Connection counts per real server, `ipvsadm -L -n` form. */
  list(signal?: AbortSignal): Promise<string>;
  restore(batch: string, signal?: AbortSignal): Promise<void>;
};

export const ipvs: IpvsRunner = {
  available: () =>
    access("/proc/net/ip_vs").then(
      () => true,
      () => false,
    ),
  save: (signal) => runCommand("ipvsadm", ["-S", "-n"], signal ? { signal } : {}),
  list: (signal) => runCommand("ipvsadm", ["-L", "-n"], signal ? { signal } : {}),
  async restore(batch, signal) {
    await runCommand("ipvsadm", ["-R"], { input: batch, ...(signal ? { signal } : {}) });
  },
};
