// Where a sparkline's points fall: the last minutes of one series scaled into a small box, broken
// where the engine gave no figure. Pure, so the scaling is a unit test; the canvas only strokes it.

export type SparkBox = { width: number; height: number; windowSeconds: number; floor: number };

/** Runs of [x, y] points, oldest first; the newest sample is at the right edge, the top is `top`. */
export function sparkRuns(
  times: readonly number[],
  values: readonly (number | null)[],
  box: SparkBox,
): { runs: [number, number][][]; top: number } {
  const last = times.at(-1);
  if (last === undefined) return { runs: [], top: box.floor };
  const from = last - box.windowSeconds;
  let first = times.length;
  while (first > 0 && times[first - 1]! >= from) first--;
  let top = box.floor;
  for (let i = first; i < times.length; i++) top = Math.max(top, values[i] ?? 0);
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  for (let i = first; i < times.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) {
      if (run.length > 0) runs.push(run);
      run = [];
      continue;
    }
    const x = ((times[i]! - from) / box.windowSeconds) * (box.width - 1);
    // One pixel of margin so a line at the top or bottom is not cut in half.
    const y = 1 + (1 - value / top) * (box.height - 2);
    run.push([round(x), round(y)]);
  }
  if (run.length > 0) runs.push(run);
  return { runs, top };
}

const round = (n: number) => Math.round(n * 10) / 10;
