// Drift as it happens, and the last applies: each node's actions with their outcomes.
import { html } from "htm/preact";
import type { FleetStore } from "../fleet-store.js";
import { clock } from "../format.js";
import { useTopic } from "./use-topic.js";

export function EventsView({ store }: { store: FleetStore }) {
  useTopic(store, "events");
  return html`<section class="view" id="view-events">
    <h2>Drift</h2>
    ${
      store.drift.length === 0
        ? html`<p class="empty">No drift since this page opened.</p>`
        : html`<table class="grid" data-testid="drift">
            <thead><tr><th>detected</th><th>node</th><th>resource</th><th>what changed</th><th>detection</th><th></th></tr></thead>
            <tbody>
              ${store.drift.map(
                (
                  d,
                  index,
                ) => html`<tr key=${`${d.detectedAt}-${d.node}-${d.resource}-${index}`} class="drift-entry">
                  <td>${clock(d.detectedAt)}</td>
                  <td>${d.node}</td>
                  <td>${d.stack}/${d.resource}</td>
                  <td>${d.differences.map((x) => html`<div>${x.action} ${x.target}: ${x.reason}</div>`)}</td>
                  <td>${d.detectionMs === undefined ? "–" : `${d.detectionMs} ms`}</td>
                  <td>${d.healing ? (d.healInMs ? `healing in ${d.healInMs} ms` : "healing") : "reported only"}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
    <h2>Applies</h2>
    ${
      store.applies.length === 0
        ? html`<p class="empty">No apply since this page opened.</p>`
        : store.applies.map(
            (apply) => html`<div class="apply" key=${apply.key} data-apply=${apply.key}>
              <h3>
                ${apply.node}: ${apply.stack} generation ${apply.generation}
                <span class="badge">${apply.settled ? "settled" : "in progress"}</span>
              </h3>
              <ul>
                ${apply.actions.map(
                  (a, index) => html`<li key=${index} class=${a.ok ? "ok" : "failed"}>
                    ${a.action} ${a.target} (${a.resource}): ${a.ok ? "done" : `${a.retrying ? "failed, retrying" : "failed"}: ${a.error ?? ""}`}
                  </li>`,
                )}
              </ul>
            </div>`,
          )
    }
  </section>`;
}
