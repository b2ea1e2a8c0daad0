// What agents publish on the bus, and how it is built.
import type { ActionOutcome, ProgressSink } from "../../controllers/container.js";
import type { ContainerAction } from "../plan/actions.js";

export const AGENT_EVENTS = {
  apply: "agent.apply",
  state: "agent.state",
  /** A small answer (generation, settled, statuses not Ready) for callers that wait on a node. */
  summary: "agent.summary",
  status: "agent.status",
  progress: "apply.progress",
  drift: "drift",
} as const;

export type DriftReport = {
  node: string;
  resource: string;
  generation: number;
  differences: { action: ContainerAction["type"]; container: string; reason: string }[];
  /** When the engine saw the change (ISO), when the agent noticed it, and the gap in ms. */
  changedAt?: string;
  detectedAt: string;
  detectionMs?: number;
  healing: boolean;
  /** The resource is in a crash loop: it is healed after this wait, not at once. */
  healInMs?: number;
};

export type ProgressReport = {
  node: string;
  generation: number;
  resource: string;
  container: string;
  action: ContainerAction["type"];
  ok: boolean;
  error?: string;
};

export function driftReport(
  at: { node: string; resource: string; generation: number },
  actions: readonly ContainerAction[],
  times: { now: number; changedAt: number | undefined },
  healing: boolean,
): DriftReport {
  const { now, changedAt } = times;
  return {
    ...at,
    differences: actions.map((a) => ({ action: a.type, container: a.name, reason: a.reason })),
    ...(changedAt !== undefined
      ? { changedAt: new Date(changedAt).toISOString(), detectionMs: Math.max(0, now - changedAt) }
      : {}),
    detectedAt: new Date(now).toISOString(),
    healing,
  };
}

/** A ProgressSink that publishes each finished action as an `apply.progress` event. */
export function progressPublisher(
  node: string,
  generation: number,
  publish: (report: ProgressReport) => void,
): ProgressSink {
  return {
    started: () => undefined,
    pulling: () => undefined,
    finished: (outcome: ActionOutcome) =>
      publish({
        node,
        generation,
        resource: outcome.action.resource,
        container: outcome.action.name,
        action: outcome.action.type,
        ok: outcome.ok,
        ...(outcome.ok ? {} : { error: outcome.error }),
      }),
  };
}
