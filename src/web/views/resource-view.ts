// One resource: the spec each node was given beside what it observes, and its conditions with reasons.
import { html } from "htm/preact";
import type { NodeState } from "../../model/wire.js";
import type { FleetStore } from "../fleet-store.js";
import { clock } from "../format.js";
import { useTopic } from "./use-topic.js";

/** `stack/kind/name` of every resource some node holds in a slice. */
export function resourceKeys(states: readonly NodeState[]): string[] {
  const keys = new Set<string>();
  for (const state of states)
    for (const [stack, held] of Object.entries(state.stacks))
      for (const resource of Object.keys(held.slice.resources)) keys.add(`${stack}/${resource}`);
  return [...keys].sort();
}

export function ResourceView(props: { store: FleetStore; selected: string | undefined }) {
  const { store, selected } = props;
  useTopic(store, "resources", "tree");
  const states = store.states();
  const keys = resourceKeys(states);
  return html`<section class="view" id="view-resource">
    <nav class="resources">
      ${keys.length === 0 ? html`<p class="empty">No node holds a resource.</p>` : null}
      ${keys.map(
        (key) =>
          html`<a key=${key} href=${`#resource/${key}`} class=${key === selected ? "selected" : ""}>${key}</a>`,
      )}
    </nav>
    ${selected ? html`<${ResourceDetail} store=${store} resourceKey=${selected} />` : null}
  </section>`;
}

function ResourceDetail({ store, resourceKey }: { store: FleetStore; resourceKey: string }) {
  const [stack, kind, ...rest] = resourceKey.split("/");
  const name = rest.join("/");
  const key = `${kind}/${name}`;
  const holders = store.rows.filter((row) => row.state?.stacks[stack ?? ""]?.slice.resources[key]);
  return html`<div class="resource-detail" data-resource=${resourceKey}>
    <h2>${resourceKey}</h2>
    ${holders.map((row) => {
      const held = row.state!.stacks[stack!]!;
      const entry = held.slice.resources[key]!;
      const observed = (row.state!.observed[kind!]?.items ?? []).filter(
        (item) =>
          (item as { stack?: string }).stack === stack && (item as { resource?: string }).resource === name,
      );
      const statuses = held.statuses.filter((s) => s.resource === key);
      const answering = row.health === "up" || row.health === "blind";
      return html`<div key=${row.name} class=${`node-block health-${row.health}`}>
        <h3>on ${row.name} <span class="badge">${row.health}</span></h3>
        ${answering ? null : html`<p class="banner">${row.detail} — as last seen</p>`}
        <table class="grid conditions">
          <thead><tr><th>condition</th><th>reason</th><th>ready</th><th>generation</th><th>since</th><th>message</th></tr></thead>
          <tbody>
            ${statuses.map(
              (s) => html`<tr key=${s.resource} class=${`condition-${s.condition}`}>
                <td>${s.condition}</td><td>${s.reason}</td><td>${s.ready}/${s.desired}</td>
                <td>${s.observedGeneration} of ${held.slice.generation}</td><td>${clock(s.since)}</td><td>${s.message}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        <div class="side-by-side">
          <div><h4>desired (replicas ${entry.replicas.join(", ") || "none"})</h4><pre>${JSON.stringify(entry.spec, null, 2)}</pre></div>
          <div><h4>observed (${observed.length})</h4><pre>${JSON.stringify(observed, null, 2)}</pre></div>
        </div>
      </div>`;
    })}
  </div>`;
}
