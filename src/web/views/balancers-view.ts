// Balancers per node: the virtual address, its backends with weights, and those draining.
import { html } from "htm/preact";
import type { FleetStore } from "../fleet-store.js";
import { clock } from "../format.js";
import { useTopic } from "./use-topic.js";

/** What a node's balancer observer reports (controllers/balancer/types.ts), read without importing it. */
type ObservedBalancer = {
  stack: string;
  resource: string;
  backend: string;
  rules: {
    vip: string;
    port: number;
    protocol: string;
    alg: string;
    endpoints: { address: string; port: number; weight: number; target: string; via?: string }[];
  };
  draining: { address: string; port: number; since: string; connections?: number }[];
  connections?: Record<string, number>;
};

export function BalancersView({ store }: { store: FleetStore }) {
  useTopic(store, "tree", "balancers");
  return html`<section class="view" id="view-balancers">
    ${store.rows.map((row) => {
      const observed = row.state?.observed.balancer;
      const answering = row.health === "up" || row.health === "blind";
      const items = (observed?.items ?? []) as ObservedBalancer[];
      return html`<div key=${row.name} class=${`node-block health-${row.health}`} data-node=${row.name}>
        <h2>${row.name} <span class="badge">${row.health}</span></h2>
        ${answering ? null : html`<p class="banner">${row.detail}${observed ? " — as last seen" : ""}</p>`}
        ${observed?.error ? html`<p class="banner">cannot see its balancers: ${observed.error}</p>` : null}
        ${
          !observed
            ? html`<p class="empty">${answering ? "no balancer controller on this node" : "unknown"}</p>`
            : items.length === 0
              ? html`<p class="empty">no balancers</p>`
              : items.map(
                  (b) => html`<div class="balancer" key=${`${b.stack}/${b.resource}`}>
                    <h3>${b.stack}/${b.resource} — ${b.rules.vip}:${b.rules.port}/${b.rules.protocol} ${b.rules.alg} (${b.backend})</h3>
                    <table class="grid">
                      <thead><tr><th>backend</th><th>address</th><th>weight</th><th>connections</th><th>state</th></tr></thead>
                      <tbody>
                        ${b.rules.endpoints.map(
                          (e) => html`<tr key=${`${e.address}:${e.port}`}>
                            <td>${e.target}${e.via ? ` via ${e.via}` : ""}</td>
                            <td>${e.address}:${e.port}</td>
                            <td>${e.weight}</td>
                            <td>${b.connections?.[`${e.address}:${e.port}`] ?? "–"}</td>
                            <td>active</td>
                          </tr>`,
                        )}
                        ${b.draining.map(
                          (d) => html`<tr key=${`drain-${d.address}:${d.port}`} class="draining">
                            <td>–</td>
                            <td>${d.address}:${d.port}</td>
                            <td>0</td>
                            <td>${d.connections ?? "–"}</td>
                            <td>draining since ${clock(d.since)}</td>
                          </tr>`,
                        )}
                      </tbody>
                    </table>
                  </div>`,
                )
        }
      </div>`;
    })}
  </section>`;
}
