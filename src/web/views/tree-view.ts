// The tree: every node known, indented under its parent, with its health; a node down is red.
import { html } from "htm/preact";
import type { FleetStore } from "../fleet-store.js";
import { clock } from "../format.js";
import { useTopic } from "./use-topic.js";

export function TreeView({ store }: { store: FleetStore }) {
  useTopic(store, "tree", "containers");
  const failure = store.failure;
  return html`<section class="view" id="view-tree">
    <p class="failure" data-testid="last-failure">
      ${
        failure
          ? html`Last failure: <b>${failure.node}</b> (under ${failure.parent}) down at ${clock(failure.at)},
              detected in <b>${failure.detectionMs} ms</b> (${failure.reason})`
          : "No node has gone down since this page opened."
      }
    </p>
    <table class="grid">
      <thead>
        <tr><th>node</th><th>status</th><th>parent</th><th>tags</th><th>stacks</th><th>containers</th><th></th></tr>
      </thead>
      <tbody>
        ${store.rows.map(
          (
            row,
          ) => html`<tr key=${row.name} class=${`health-${row.health}`} data-node=${row.name} data-health=${row.health}>
            <td style=${{ paddingLeft: `${0.5 + row.depth * 1.5}rem` }}>${row.depth > 0 ? "└ " : ""}${row.name}</td>
            <td><span class="badge">${row.health}</span></td>
            <td>${row.parent ?? "–"}</td>
            <td>${row.tags.join(", ") || "–"}</td>
            <td>${row.stacks.join(", ") || "–"}</td>
            <td>${store.containers.get(row.name)?.length ?? "?"}</td>
            <td class="detail">${row.detail}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${store.rows.length === 0 ? html`<p class="empty">No node has answered yet.</p>` : null}
  </section>`;
}
