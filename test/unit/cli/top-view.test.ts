import { describe, expect, it } from "vitest";
import {
  currentRows,
  humanSize,
  type Received,
  renderTable,
  sortRows,
  unreachableNodes,
} from "../../../src/cli/top-view.js";
import { UNKNOWN_USAGE } from "../../../src/model/usage.js";

const row = (name: string, figures: Partial<typeof UNKNOWN_USAGE> = {}) => ({
  node: "n1",
  id: name,
  name,
  stack: "s",
  resource: name,
  replica: 1,
  ...UNKNOWN_USAGE,
  ...figures,
});

describe("top's view", () => {
  it("sorts figures biggest first with unknown last, ties and names in order", () => {
    const rows = [
      row("b", { cpuPercent: 5, memoryBytes: 10, netRxBytes: 1, blockWriteBytes: 7 }),
      row("a", { cpuPercent: null, memoryBytes: 30 }),
      row("c", { cpuPercent: 5, memoryBytes: 20, netTxBytes: 9 }),
    ];
    expect(sortRows(rows, "cpu").map((r) => r.name)).toEqual(["b", "c", "a"]);
    expect(sortRows(rows, "mem").map((r) => r.name)).toEqual(["a", "c", "b"]);
    expect(sortRows(rows, "net").map((r) => r.name)).toEqual(["c", "b", "a"]);
    expect(sortRows(rows, "io").map((r) => r.name)).toEqual(["b", "a", "c"]);
    expect(sortRows(rows, "name").map((r) => r.name)).toEqual(["a", "b", "c"]);
  });

  it("writes sizes as docker stats does: memory binary, traffic decimal, unknown --", () => {
    expect(humanSize(0, 1000)).toBe("0B");
    expect(humanSize(999, 1000)).toBe("999B");
    expect(humanSize(1536, 1024)).toBe("1.50KiB");
    expect(humanSize(25_276_510_208, 1024)).toBe("23.5GiB");
    expect(humanSize(12_345_678, 1000)).toBe("12.3MB");
    expect(humanSize(null, 1024)).toBe("--");
  });

  it("a node whose engine is unseen or that went silent is listed as unreachable, its rows not shown", () => {
    const received: Received = new Map([
      [
        "n1",
        { payload: { node: "n1", at: "", containers: [row("a", { cpuPercent: 1 })] }, receivedAt: 10_000 },
      ],
      [
        "n2",
        {
          payload: { node: "n2", at: "", containers: [], error: "cannot see the engine: ENOENT" },
          receivedAt: 10_000,
        },
      ],
      ["n3", { payload: { node: "n3", at: "", containers: [row("z")] }, receivedAt: 5_000 }],
    ]);
    expect(unreachableNodes(received, 10_500)).toEqual([
      { node: "n2", reason: "unreachable: cannot see the engine: ENOENT" },
      { node: "n3", reason: "unreachable: no figures for 6 s" },
    ]);
    expect(currentRows(received, 10_500, "cpu").map((r) => r.name)).toEqual(["a"]);
    const lines = renderTable(received, 10_500, "cpu");
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^n1\s+a\s+1\.00%\s+-- \/ --\s+--\s+-- \/ --\s+-- \/ --$/);
    expect(lines[2]).toBe("n2: unreachable: cannot see the engine: ENOENT");
  });
});
