// What agents publish on the bus, and how it is built.
import type { ApplyPlanned, DriftReport, ProgressReport, ProgressStart } from "../model/wire.js";
import type { ActionLine, Outcome, PlannedAction, ProgressSink } from "../reconcile/controller.js";
import { resourceKey } from "../reconcile/keys.js";
import { changeText } from "../reconcile/render.js";

export function driftReport(
  at: { node: string; stack: string; resource: string; generation: number },
  lines: readonly ActionLine[],
  times: { now: number; changedAt: number | undefined },
  healing: boolean,
): DriftReport {
  const { now, changedAt } = times;
  return {
    ...at,
    differences: lines.map((line) => ({ action: line.verb, target: line.target, reason: line.reason })),
    ...(changedAt !== undefined
      ? { changedAt: new Date(changedAt).toISOString(), detectionMs: Math.max(0, now - changedAt) }
      : {}),
    detectedAt: new Date(now).toISOString(),
    healing,
  };
}

/** What a node is about to do for one resource: every action, in the words its progress will use. */
export function plannedReport<A extends PlannedAction>(
  at: { node: string; stack: string; resource: string; generation: number },
  actions: readonly A[],
  describe: (action: A) => ActionLine,
  drift: boolean,
): ApplyPlanned {
  return {
    ...at,
    drift,
    actions: actions.map((action) => {
      const line = describe(action);
      return {
        action: line.verb,
        target: line.target,
        reason: line.reason,
        ...replicaField(action),
        ...(line.changes?.length ? { changes: line.changes.map(changeText) } : {}),
      };
    }),
  };
}

/** The replica an action is for, when its kind runs replicas (a container action carries one). */
export function replicaOf(action: PlannedAction): number | undefined {
  const replica = (action as { replica?: unknown }).replica;
  return typeof replica === "number" ? replica : undefined;
}

function replicaField(action: PlannedAction): { replica?: number } {
  const replica = replicaOf(action);
  return replica === undefined ? {} : { replica };
}

/**
 * A ProgressSink that publishes each finished action as an `apply.progress` event, and (with
 * `begun`) each action as it starts: an interrupted apply tells under way from not started by it.
 */
export function progressPublisher<A extends PlannedAction>(
  at: { node: string; stack: string; generation: number },
  describe: (action: A) => ActionLine,
  publish: (report: ProgressReport) => void,
  begun?: (start: ProgressStart) => void,
): ProgressSink<A> {
  return {
    started: (action: A) => {
      const line = describe(action);
      begun?.({
        ...at,
        resource: resourceKey(action.kind, action.resource),
        target: line.target,
        action: line.verb,
        ...replicaField(action),
      });
    },
    activity: () => undefined,
    finished: (outcome: Outcome<A>) => {
      const line = describe(outcome.action);
      publish({
        ...at,
        resource: resourceKey(outcome.action.kind, outcome.action.resource),
        target: line.target,
        action: line.verb,
        ...replicaField(outcome.action),
        ok: outcome.ok,
        ...(outcome.ok
          ? {}
          : {
              error: outcome.error,
              // Only a terminal failure or a stopped rollout is final; anything else goes back on the queue.
              retrying: outcome.disposition !== "terminal" && outcome.disposition !== "hold",
            }),
      });
    },
  };
}
