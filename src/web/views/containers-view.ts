// Containers per node: state, health, restarts and the engine's figures with a sparkline of CPU and
// memory over the last minutes; a node that does not answer keeps its last known list under a banner
// saying so, never an empty table. Figures arrive for every container each second: each row listens
// to its own container's, and only while it is on screen (off-screen rows catch up when scrolled to),
// so 500 containers cost the redraw of the few dozen rows in view.
import { html } from "htm/preact";
import { memo } from "preact/compat";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ObservedContainer } from "../../model/observed.js";
import type { FleetStore } from "../fleet-store.js";
import { bytes, clock, percent } from "../format.js";
import type { NodeRow } from "../tree-status.js";
import { Chart } from "./chart.js";
import { Sparkline } from "./sparkline.js";
import { useTopic } from "./use-topic.js";
import { useVisible } from "./visibility.js";

const MiB = 1024 * 1024;

export function ContainersView({ store }: { store: FleetStore }) {
  useTopic(store, "tree", "containers", "statsErrors");
  const [selected, select] = useState<string | undefined>(undefined);
  useEffect(() => {
    void store.watchStats(true);
    return () => void store.watchStats(false);
  }, [store]);
  return html`<section class="view" id="view-containers">
    ${selected ? html`<${StatsCharts} name=${selected} store=${store} close=${() => select(undefined)} />` : null}
    ${store.rows.map(
      (row) => html`<${NodeContainers}
        key=${row.name}
        row=${row}
        containers=${store.containers.get(row.name)}
        store=${store}
        select=${select}
      />`,
    )}
    ${store.rows.length === 0 ? html`<p class="empty">No node has answered yet.</p>` : null}
  </section>`;
}

function NodeContainers(props: {
  row: NodeRow;
  containers: readonly ObservedContainer[] | undefined;
  store: FleetStore;
  select: (name: string) => void;
}) {
  const { row, containers, store, select } = props;
  const answering = row.health === "up" || row.health === "blind";
  const engine = row.state?.observed.container;
  return html`<div class=${`node-block health-${row.health}`} data-node=${row.name} data-health=${row.health}>
    <h2>${row.name} <span class="badge">${row.health}</span></h2>
    ${
      answering
        ? row.health === "blind"
          ? html`<p class="banner">${row.detail}</p>`
          : null
        : html`<p class="banner">
            ${row.detail}${containers ? ` — showing its containers as last seen` : " — its containers are not known"}
          </p>`
    }
    ${store.statsErrors.has(row.name) ? html`<p class="banner">no stats: ${store.statsErrors.get(row.name)}</p>` : null}
    ${
      containers === undefined || (engine === undefined && answering)
        ? html`<p class="empty">${answering ? "this node runs no container controller" : "unknown"}</p>`
        : containers.length === 0
          ? html`<p class="empty">no containers${answering ? "" : " (as last seen)"}</p>`
          : html`<table class=${`grid containers${answering ? "" : " stale"}`}>
              <thead>
                <tr>
                  <th>container</th><th>stack</th><th>resource</th><th>state</th><th>health</th><th>restarts</th>
                  <th>CPU</th><th class="spark">5 min</th><th>memory</th><th class="spark">5 min</th>
                  <th>net rx / tx</th><th>block r / w</th>
                </tr>
              </thead>
              <tbody>
                ${containers.map(
                  (container) => html`<${ContainerRow}
                    key=${container.id}
                    container=${container}
                    store=${store}
                    select=${select}
                  />`,
                )}
              </tbody>
            </table>`
    }
  </div>`;
}

/** Redraws the component whenever this container's figures change, while `on`. */
function useContainerStats(store: FleetStore, name: string, on: boolean): void {
  const [, redraw] = useState(0);
  useEffect(
    () => (on ? store.onContainerStats(name, () => redraw((n) => n + 1)) : undefined),
    [store, name, on],
  );
}

const ContainerRow = memo(function ContainerRow(props: {
  container: ObservedContainer;
  store: FleetStore;
  select: (name: string) => void;
}) {
  const { container, store, select } = props;
  const row = useRef<HTMLTableRowElement>(null);
  const visible = useVisible(row);
  useContainerStats(store, container.name, visible);
  const history = store.stats.of(container.name);
  const stats = history?.latest;
  return html`<tr ref=${row} data-container=${container.name} data-id=${container.id} data-state=${container.state} onClick=${() => select(container.name)}>
    <td class="name">${container.name}</td>
    <td>${container.stack}</td>
    <td>${container.resource}</td>
    <td class=${`state-${container.state}`}>${container.state}</td>
    <td>${container.health ?? "–"}</td>
    ${
      // A node of an older version sends no count at all; either way the page says it does not know.
      container.restarts === null || container.restarts === undefined
        ? html`<td class="restarts" title="the engine's restart count has not been read yet">–</td>`
        : html`<td class="restarts" title="times the engine restarted this container (its RestartCount)">${container.restarts}</td>`
    }
    ${
      stats && history
        ? html`<td class="cpu">${percent(stats.cpuPercent)}</td>
            <td class="spark">${
              visible
                ? html`<${Sparkline} times=${history.times} values=${history.series.cpuPercent}
                    color="#2b6cb0" floor=${1} label="CPU %" format=${percent} />`
                : null
            }</td>
            <td>${bytes(stats.memoryBytes)}${stats.memoryLimitBytes ? ` / ${bytes(stats.memoryLimitBytes)}` : ""}</td>
            <td class="spark">${
              visible
                ? html`<${Sparkline} times=${history.times} values=${history.series.memoryBytes}
                    color="#2f855a" floor=${MiB} label="memory" format=${bytes} />`
                : null
            }</td>
            <td>${bytes(stats.netRxBytes)} / ${bytes(stats.netTxBytes)}</td>
            <td>${bytes(stats.blockReadBytes)} / ${bytes(stats.blockWriteBytes)}</td>`
        : html`<td colspan="6" class="no-stats">no stats yet</td>`
    }
  </tr>`;
});

function StatsCharts(props: { name: string; store: FleetStore; close: () => void }) {
  const { name, store, close } = props;
  useContainerStats(store, name, true);
  const history = store.stats.of(name);
  return html`<div class="charts" data-testid="charts">
    <h2>${name} <button type="button" onClick=${close}>close</button></h2>
    ${
      history
        ? html`<p>last sample ${clock(new Date(history.times.at(-1)! * 1000).toISOString())}</p>
            <div class="chart-row">
              <${Chart} title="CPU %" times=${history.times} format=${percent}
                series=${[{ label: "cpu", values: history.series.cpuPercent, color: "#2b6cb0" }]} />
              <${Chart} title="memory" times=${history.times} format=${bytes}
                series=${[{ label: "memory", values: history.series.memoryBytes, color: "#2f855a" }]} />
              <${Chart} title="network rx / tx" times=${history.times} format=${bytes}
                series=${[
                  { label: "rx", values: history.series.netRxBytes, color: "#6b46c1" },
                  { label: "tx", values: history.series.netTxBytes, color: "#d69e2e" },
                ]} />
              <${Chart} title="block read / write" times=${history.times} format=${bytes}
                series=${[
                  { label: "read", values: history.series.blockReadBytes, color: "#c05621" },
                  { label: "write", values: history.series.blockWriteBytes, color: "#718096" },
                ]} />
            </div>`
        : html`<p class="no-stats">no stats yet</p>`
    }
  </div>`;
}
