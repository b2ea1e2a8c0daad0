import { describe, expect, it } from "vitest";
import {
  blockTotals,
  cpuPercent,
  memoryInUse,
  networkTotals,
  usageFromAnswer,
} from "../../../src/drivers/docker-stats.js";

describe("docker stats figures", () => {
  it("CPU % is the container's CPU delta over the host's, times the CPUs online, × 100 (docker stats)", () => {
    const previous = { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 100_000_000_000 };
    // Half a second of CPU time while the host's 2 CPUs spent 2 s: a quarter of the host, half a CPU.
    const current = {
      cpu_usage: { total_usage: 1_500_000_000 },
      system_cpu_usage: 102_000_000_000,
      online_cpus: 2,
    };
    expect(cpuPercent(current, previous)).toBeCloseTo(50, 6);
  });

  it("CPU % counts the per-CPU list when the engine leaves online_cpus out", () => {
    const previous = { cpu_usage: { total_usage: 0 }, system_cpu_usage: 1_000 };
    const current = {
      cpu_usage: { total_usage: 100, percpu_usage: [60, 40, 0, 0] },
      system_cpu_usage: 2_000,
    };
    expect(cpuPercent(current, previous)).toBeCloseTo(40, 6);
  });

  it("CPU % is unknown without an earlier sample, and 0 for an idle container", () => {
    const current = { cpu_usage: { total_usage: 500 }, system_cpu_usage: 2_000, online_cpus: 2 };
    expect(cpuPercent(current, {})).toBeNull();
    expect(cpuPercent(current, { cpu_usage: { total_usage: 0 }, system_cpu_usage: 0 })).toBeNull();
    expect(cpuPercent(current, undefined)).toBeNull();
    expect(cpuPercent(current, { cpu_usage: { total_usage: 500 }, system_cpu_usage: 1_000 })).toBe(0);
  });

  it("memory leaves reclaimable page cache out: total_inactive_file (cgroup v1), inactive_file (v2)", () => {
    expect(memoryInUse({ usage: 10_000, stats: { total_inactive_file: 4_000 } })).toBe(6_000);
    expect(memoryInUse({ usage: 10_000, stats: { inactive_file: 3_000 } })).toBe(7_000);
    // More cache than usage (a race between the two counters): usage as is, as docker does.
    expect(memoryInUse({ usage: 1_000, stats: { inactive_file: 3_000 } })).toBe(1_000);
    expect(memoryInUse({ usage: 1_000 })).toBe(1_000);
    expect(memoryInUse({})).toBeNull();
    expect(memoryInUse(undefined)).toBeNull();
  });

  it("network sums every interface, and is unknown when the engine reports no networks", () => {
    expect(
      networkTotals({ eth0: { rx_bytes: 100, tx_bytes: 10 }, eth1: { rx_bytes: 23, tx_bytes: 4 } }),
    ).toEqual({ rx: 123, tx: 14 });
    expect(networkTotals(undefined)).toBeNull();
    expect(networkTotals(null)).toBeNull();
  });

  it("block I/O sums reads and writes over devices in either case of op; no list is unknown, never 0", () => {
    expect(
      blockTotals({
        io_service_bytes_recursive: [
          { op: "Read", value: 4096 },
          { op: "Write", value: 100 },
          { op: "read", value: 1 },
          { op: "write", value: 2 },
          { op: "Total", value: 4199 },
        ],
      }),
    ).toEqual({ read: 4097, write: 102 });
    expect(blockTotals({ io_service_bytes_recursive: [] })).toEqual({ read: 0, write: 0 });
    expect(blockTotals({ io_service_bytes_recursive: null })).toBeNull();
    expect(blockTotals({})).toBeNull();
    expect(blockTotals(undefined)).toBeNull();
  });

  it("a stopped container's answer has no figures at all", () => {
    expect(
      usageFromAnswer({ memory_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 } }, precpu_stats: {} }),
    ).toEqual({
      cpuPercent: null,
      memoryBytes: null,
      memoryLimitBytes: null,
      netRxBytes: null,
      netTxBytes: null,
      blockReadBytes: null,
      blockWriteBytes: null,
    });
  });

  it("a running container's answer gives every figure", () => {
    expect(
      usageFromAnswer({
        cpu_stats: { cpu_usage: { total_usage: 300 }, system_cpu_usage: 3_000, online_cpus: 1 },
        precpu_stats: { cpu_usage: { total_usage: 200 }, system_cpu_usage: 2_000 },
        memory_stats: { usage: 5_000, limit: 1_000_000, stats: { total_inactive_file: 1_000 } },
        networks: { eth0: { rx_bytes: 7, tx_bytes: 8 } },
        blkio_stats: { io_service_bytes_recursive: [{ op: "Read", value: 9 }] },
      }),
    ).toEqual({
      cpuPercent: 10,
      memoryBytes: 4_000,
      memoryLimitBytes: 1_000_000,
      netRxBytes: 7,
      netTxBytes: 8,
      blockReadBytes: 9,
      blockWriteBytes: 0,
    });
  });
});
