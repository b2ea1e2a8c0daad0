// The last applies as the page saw them, folded from the agents' events: `apply.planned` lists what a
// node is about to do for a resource, `apply.started` and `apply.progress` move each action from not
// started to under way to its outcome, and `agent.status` says when the node settled and how each
// resource ended. Pure: the store feeds events in and gets new records out.
import type { ApplyPlanned, ProgressReport, ProgressStart, StatusAnnouncement } from "../model/wire.js";

export type StepState = "planned" | "running" | "done" | "failed" | "retrying";

/** One action of one attempt: a retry or a heal of the same action is a new step. */
export type ApplyStep = {
  resource: string;
  action: string;
  target: string;
  replica?: number;
  reason?: string;
  /** The fields it changes, as the CLI's plan prints them. */
  changes?: string[];
  /** It heals drift rather than applying a new generation. */
  drift: boolean;
  state: StepState;
  error?: string;
  startedAt?: number;
  endedAt?: number;
};

/** A resource's condition as its node last announced it for this generation. */
export type ResourceOutcome = { condition: string; reason: string; message: string };

/** One node's share of one apply. */
export type ApplyRecord = {
  key: string;
  node: string;
  stack: string;
  generation: number;
  steps: ApplyStep[];
  /** How many of the oldest steps were dropped to keep the record bounded. */
  dropped: number;
  /** Every action of the plan has ended and the node said the stack settled. */
  settled: boolean;
  outcomes: Record<string, ResourceOutcome>;
  lastAt: number;
};

/** Steps kept per record: a crash loop healed for hours must not grow the page without end. */
export const MAX_STEPS = 200;

export const applyKey = (node: string, stack: string, generation: number) => `${node}/${stack}/${generation}`;

export function newApply(node: string, stack: string, generation: number, now: number): ApplyRecord {
  return {
    key: applyKey(node, stack, generation),
    node,
    stack,
    generation,
    steps: [],
    dropped: 0,
    settled: false,
    outcomes: {},
    lastAt: now,
  };
}

/** A node's plan for one resource: each action is a new step, not started yet. */
export function withPlan(record: ApplyRecord, plan: ApplyPlanned, now: number): ApplyRecord {
  const steps = plan.actions.map(
    (planned): ApplyStep => ({
      resource: plan.resource,
      action: planned.action,
      target: planned.target,
      ...(planned.replica === undefined ? {} : { replica: planned.replica }),
      reason: planned.reason,
      ...(planned.changes === undefined ? {} : { changes: planned.changes }),
      drift: plan.drift,
      state: "planned",
    }),
  );
  // A new plan means the node works on this generation again: not settled until it says so.
  return bounded({ ...record, steps: [...record.steps, ...steps], settled: false, lastAt: now });
}

/** An action began: its planned step is under way (a step is made when the plan was not seen). */
export function withStart(record: ApplyRecord, start: ProgressStart, now: number): ApplyRecord {
  const index = lastIndex(record.steps, start, ["planned"]);
  const step: ApplyStep =
    index === -1
      ? { ...stepOf(start), state: "running", startedAt: now }
      : { ...record.steps[index]!, state: "running", startedAt: now };
  return bounded({ ...record, steps: replaced(record.steps, index, step), lastAt: now });
}

/** An action ended: its step takes the outcome (a failure the node retries is not final). */
export function withOutcome(record: ApplyRecord, report: ProgressReport, now: number): ApplyRecord {
  const index = lastIndex(record.steps, report, ["running", "planned"]);
  const state: StepState = report.ok ? "done" : report.retrying ? "retrying" : "failed";
  const base = index === -1 ? stepOf(report) : record.steps[index]!;
  const step: ApplyStep = {
    ...base,
    state,
    endedAt: now,
    ...(report.ok ? {} : { error: report.error ?? "failed" }),
  };
  return bounded({ ...record, steps: replaced(record.steps, index, step), lastAt: now });
}

/** A status announcement of this record's generation: the resource's condition, and whether it settled. */
export function withStatus(record: ApplyRecord, status: StatusAnnouncement, now: number): ApplyRecord {
  const { condition, reason, message, resource } = status.status;
  return {
    ...record,
    outcomes: { ...record.outcomes, [resource]: { condition, reason, message } },
    settled: status.settled,
    lastAt: now,
  };
}

export type ApplyCounts = Record<StepState, number>;

export function countSteps(steps: readonly ApplyStep[]): ApplyCounts {
  const counts: ApplyCounts = { planned: 0, running: 0, done: 0, failed: 0, retrying: 0 };
  for (const step of steps) counts[step.state]++;
  return counts;
}

/** How the node's share of the apply stands, in one word. */
export function verdict(record: ApplyRecord): "in progress" | "failed" | "stalled" | "settled" {
  const counts = countSteps(record.steps);
  if (counts.planned > 0 || counts.running > 0) return "in progress";
  if (Object.values(record.outcomes).some((o) => o.condition === "Stalled")) return "stalled";
  if (counts.failed > 0) return "failed";
  return record.settled ? "settled" : "in progress";
}

type Said = Pick<ProgressStart, "resource" | "target" | "action">;

function lastIndex(steps: readonly ApplyStep[], said: Said, states: readonly StepState[]): number {
  return steps.findLastIndex(
    (step) =>
      step.resource === said.resource &&
      step.target === said.target &&
      step.action === said.action &&
      states.includes(step.state),
  );
}

function stepOf(said: ProgressStart): Omit<ApplyStep, "state"> {
  return {
    resource: said.resource,
    action: said.action,
    target: said.target,
    ...(said.replica === undefined ? {} : { replica: said.replica }),
    drift: false,
  };
}

function replaced(steps: readonly ApplyStep[], index: number, step: ApplyStep): ApplyStep[] {
  return index === -1 ? [...steps, step] : steps.map((s, i) => (i === index ? step : s));
}

function bounded(record: ApplyRecord): ApplyRecord {
  const over = record.steps.length - MAX_STEPS;
  return over > 0 ? { ...record, steps: record.steps.slice(over), dropped: record.dropped + over } : record;
}
