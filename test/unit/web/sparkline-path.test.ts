// The sparkline's scaling: the last minutes fill the box, the newest sample at the right edge, the
// scale's top the window's largest figure (never below the floor), a missing figure breaks the line.
import { describe, expect, it } from "vitest";
import { sparkRuns } from "../../../src/web/sparkline-path.js";

const box = { width: 61, height: 12, windowSeconds: 60, floor: 1 };

describe("sparkline path", () => {
  it("places the window's samples left to right and scales them to its largest", () => {
    const { runs, top } = sparkRuns([100, 130, 160], [0, 5, 10], box);
    expect(top).toBe(10);
    // 160 is the right edge, 100 the left; 10 the top row (y 1), 0 the bottom (y 11).
    expect(runs).toEqual([
      [
        [0, 11],
        [30, 6],
        [60, 1],
      ],
    ]);
  });

  it("leaves out what is older than the window and breaks the line where a figure is missing", () => {
    const { runs, top } = sparkRuns([10, 100, 130, 145, 160], [999, 2, null, 4, 4], box);
    expect(top).toBe(4);
    expect(runs).toEqual([
      [[0, 6]],
      [
        [45, 1],
        [60, 1],
      ],
    ]);
  });

  it("keeps an idle series low under the floor, and draws nothing without samples", () => {
    expect(sparkRuns([1, 2], [0.01, 0.02], box).top).toBe(1);
    expect(sparkRuns([], [], box)).toEqual({ runs: [], top: 1 });
  });
});
