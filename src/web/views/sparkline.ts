// A small line of one figure's last minutes inside a table cell: a bare canvas stroked by hand, so
// hundreds of rows cost a canvas each and a few microseconds per redraw (a uPlot per row would add its
// own DOM, cursor and resize handling 1,000 times over). The row redraws it only while on screen.
import { html } from "htm/preact";
import { useLayoutEffect, useRef } from "preact/hooks";
import { type SparkBox, sparkRuns } from "../sparkline-path.js";

const WIDTH = 64;
const HEIGHT = 16;
const WINDOW_SECONDS = 300;

type Props = {
  times: readonly number[];
  values: readonly (number | null)[];
  color: string;
  /** The smallest top of the scale: an idle container's noise is not drawn as a full swing. */
  floor: number;
  label: string;
  format: (value: number | null) => string;
};

export function Sparkline({ times, values, color, floor, label, format }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box: SparkBox = { width: WIDTH, height: HEIGHT, windowSeconds: WINDOW_SECONDS, floor };
  const { runs, top } = sparkRuns(times, values, box);
  useLayoutEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    const scale = devicePixelRatio;
    context.setTransform(scale, 0, 0, scale, 0, 0);
    context.clearRect(0, 0, WIDTH, HEIGHT);
    context.strokeStyle = color;
    context.lineWidth = 1;
    context.beginPath();
    for (const run of runs) {
      const [start, ...rest] = run;
      context.moveTo(start![0], start![1]);
      // A lone sample is drawn as a dot-length line.
      if (rest.length === 0) context.lineTo(start![0] + 1, start![1]);
      for (const [x, y] of rest) context.lineTo(x, y);
    }
    context.stroke();
  });
  return html`<canvas
    ref=${canvas}
    class="spark"
    width=${WIDTH * devicePixelRatio}
    height=${HEIGHT * devicePixelRatio}
    style=${`width:${WIDTH}px;height:${HEIGHT}px`}
    title=${`${label}, last ${WINDOW_SECONDS / 60} min (top of the scale ${format(top)})`}
  ></canvas>`;
}
