// Drift as it happens, and the last applies: each node's plan, every action with how it stands or
// how it ended, and each resource's condition once the node settles.
import { html } from "htm/preact";
import { memo } from "preact/compat";
import { type ApplyRecord, type ApplyStep, countSteps, verdict } from "../applies.js";
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
        : byApply(store.applies).map(
            (group) => html`<div class="apply" key=${group.key} data-apply=${group.key}>
              <h3>${group.stack} generation ${group.generation}</h3>
              ${group.records.map((record) => html`<${NodeApply} key=${record.key} record=${record} />`)}
            </div>`,
          )
    }
  </section>`;
}

type ApplyGroup = { key: string; stack: string; generation: number; records: ApplyRecord[] };

/** One apply reaches several nodes: their records side by side, newest apply first. */
export function byApply(records: readonly ApplyRecord[]): ApplyGroup[] {
  const groups = new Map<string, ApplyGroup>();
  for (const record of records) {
    const key = `${record.stack}/${record.generation}`;
    const group = groups.get(key) ?? { key, stack: record.stack, generation: record.generation, records: [] };
    group.records.push(record);
    groups.set(key, group);
  }
  for (const group of groups.values()) group.records.sort((a, b) => a.node.localeCompare(b.node));
  return [...groups.values()];
}

const STATE_WORDS = {
  planned: "not started",
  running: "under way",
  done: "done",
  failed: "failed",
  retrying: "failed, retrying",
} as const;

export function stepOutcome(step: ApplyStep): string {
  const took =
    step.startedAt !== undefined && step.endedAt !== undefined
      ? ` in ${step.endedAt - step.startedAt} ms`
      : "";
  switch (step.state) {
    case "planned":
      return STATE_WORDS.planned;
    case "running":
      return `${STATE_WORDS.running} since ${clock(new Date(step.startedAt ?? 0).toISOString())}`;
    case "done":
      return `${STATE_WORDS.done}${took}`;
    default:
      return `${STATE_WORDS[step.state]}${took}: ${step.error ?? ""}`;
  }
}

export function countsLine(steps: readonly ApplyStep[]): string {
  const counts = countSteps(steps);
  return (Object.keys(STATE_WORDS) as (keyof typeof STATE_WORDS)[])
    .filter((state) => counts[state] > 0)
    .map((state) => `${counts[state]} ${STATE_WORDS[state]}`)
    .join(" · ");
}

const NodeApply = memo(function NodeApply({ record }: { record: ApplyRecord }) {
  const word = verdict(record);
  const outcomes = Object.entries(record.outcomes);
  return html`<div class="apply-node" data-apply-node=${record.node} data-verdict=${word}>
    <h4>${record.node} <span class=${`badge verdict-${word.replace(" ", "-")}`}>${word}</span>
      <span class="counts">${countsLine(record.steps)}</span></h4>
    ${record.dropped > 0 ? html`<p class="detail">${record.dropped} earlier action(s) not shown</p>` : null}
    ${
      record.steps.length === 0
        ? html`<p class="empty">no action reported</p>`
        : html`<table class="grid steps">
            <thead><tr><th>resource</th><th>action</th><th>replica</th><th>target</th><th>outcome</th><th>why</th></tr></thead>
            <tbody>
              ${record.steps.map(
                (step, index) => html`<tr key=${index} class=${`step-${step.state}`} data-step=${step.target}
                    data-action=${step.action} data-state=${step.state}>
                  <td>${step.resource}</td>
                  <td>${step.action}${step.drift ? html` <span class="badge">heal</span>` : null}</td>
                  <td>${step.replica ?? "–"}</td>
                  <td>${step.target}</td>
                  <td class="outcome">${stepOutcome(step)}</td>
                  <td>${step.reason ?? ""}${step.changes?.map((change) => html`<div class="change">${change}</div>`)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${
      outcomes.length > 0
        ? html`<ul class="outcomes">
            ${outcomes.map(
              ([
                resource,
                o,
              ]) => html`<li key=${resource} class=${`condition-${o.condition}`} data-outcome=${resource}>
                ${resource}: <b>${o.condition}</b> ${o.reason}${o.message ? ` — ${o.message}` : ""}
              </li>`,
            )}
          </ul>`
        : null
    }
  </div>`;
});
