// The vocabulary of a container plan: what will be done to which container, and why.
import type { ContainerSpec } from "../model/resources.js";

type Target = { node: string; resource: string; replica: number; name: string };

export type CreateAction = Target & {
  type: "create";
  spec: ContainerSpec;
  hash: string;
  fieldHashes: Record<string, string>;
  reason: string;
};

export type RecreateAction = Target & {
  type: "recreate";
  containerId: string;
  spec: ContainerSpec;
  hash: string;
  fieldHashes: Record<string, string>;
  /** The spec fields whose change forced the recreate (empty when the old container predates field hashes). */
  changed: string[];
  reason: string;
};

export type StartAction = Target & { type: "start"; containerId: string; reason: string };

export type RemoveAction = Target & {
  type: "remove";
  containerId: string;
  cause: "scale-down" | "prune" | "duplicate" | "placement";
  reason: string;
};

export type ContainerAction = CreateAction | RecreateAction | StartAction | RemoveAction;

/** An owned container that is no longer declared but that this apply leaves alone, with why. */
export type Orphan = { node: string; resource: string; name: string; containerId: string; reason: string };

/** A declared resource that no node can run, with why (e.g. no server matches its placement). */
export type Unschedulable = { resource: string; reason: string };

export type Plan = {
  actions: ContainerAction[];
  orphans: Orphan[];
  unschedulable: Unschedulable[];
  /** Containers already as declared. */
  unchanged: number;
};

export type PlanSummary = { create: number; recreate: number; remove: number; start: number };

export function summarize(actions: readonly ContainerAction[]): PlanSummary {
  const summary: PlanSummary = { create: 0, recreate: 0, remove: 0, start: 0 };
  for (const action of actions) summary[action.type] += 1;
  return summary;
}
