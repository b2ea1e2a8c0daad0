// A small uPlot line chart of one or two series over the last minutes.
import { html } from "htm/preact";
import { Component, createRef } from "preact";
import uPlot from "uplot";

type Props = {
  title: string;
  times: number[];
  series: { label: string; values: (number | null)[]; color: string }[];
  format: (value: number | null) => string;
};

export class Chart extends Component<Props> {
  readonly #host = createRef<HTMLDivElement>();
  #plot: uPlot | undefined;

  override componentDidMount(): void {
    const { title, series, format } = this.props;
    this.#plot = new uPlot(
      {
        title,
        width: 260,
        height: 110,
        legend: { show: false },
        axes: [{ show: false }, { size: 60, values: (_u, values) => values.map((v) => format(v)) }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1 }))],
      },
      this.#data(),
      this.#host.current!,
    );
  }

  override componentDidUpdate(): void {
    this.#plot?.setData(this.#data());
  }

  override componentWillUnmount(): void {
    this.#plot?.destroy();
  }

  #data(): uPlot.AlignedData {
    return [this.props.times, ...this.props.series.map((s) => s.values)] as uPlot.AlignedData;
  }

  override render() {
    return html`<div class="chart" ref=${this.#host}></div>`;
  }
}
