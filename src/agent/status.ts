// Per-resource status as Kubernetes conditions put it: one of Ready, Reconciling or Stalled,
// with the generation it refers to, a CamelCase reason and a sentence for people.
import type { ObservedContainer } from "../model/observed.js";
import type { SliceDocument } from "./slice.js";

export const CONDITIONS = ["Ready", "Reconciling", "Stalled"] as const;
export type ConditionType = (typeof CONDITIONS)[number];

export type ResourceStatus = {
  resource: string;
  node: string;
  condition: ConditionType;
  reason: string;
  message: string;
  observedGeneration: number;
  /** Replicas this node should run, and how many of them run (and are healthy, when checked). */
  desired: number;
  ready: number;
  since: string;
};

/** A direct child link as its parent sees it: how `get nodes` shows a dead child rather than omitting it. */
export type ChildLink = {
  node: string;
  status: "up" | "down";
  since: string;
  reason?: string;
  /** The child's tags as its parent last knew them, if it does: how a plan places for a child that is down. */
  tags?: string[];
};

/** What every agent answers to `agent.state`. */
export type NodeState = {
  node: string;
  tags: string[];
  parent?: string;
  children: ChildLink[];
  generation: number;
  /** All resources of the slice reached their state for this generation (Ready or Stalled). */
  settled: boolean;
  containers: ObservedContainer[];
  statuses: ResourceStatus[];
  inventory: Record<string, { replicas: number[] }>;
  slice: SliceDocument;
};

/** What every agent answers to `agent.summary`: enough to wait on an apply, without the containers. */
export type NodeSummary = {
  node: string;
  parent?: string;
  generation: number;
  settled: boolean;
  /** Statuses that are not Ready (usually none): what a failed or slow apply reports. */
  unready: ResourceStatus[];
};
