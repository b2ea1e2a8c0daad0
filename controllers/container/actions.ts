// The vocabulary of a container plan: what will be done to which container, and why.
import type { ContainerSpec } from "../../src/model/resources.js";
import type { FieldChange } from "../../src/reconcile/controller.js";

type Target = {
  kind: "container";
  node: string;
  stack: string;
  resource: string;
  replica: number;
  name: string;
  reason: string;
};

export type CreateAction = Target & {
  type: "create";
  spec: ContainerSpec;
  hash: string;
  fieldHashes: Record<string, string>;
};

export type RecreateAction = Target & {
  type: "recreate";
  containerId: string;
  spec: ContainerSpec;
  hash: string;
  fieldHashes: Record<string, string>;
  /** The spec fields whose change forced the recreate (empty when the old container predates field hashes). */
  changed: string[];
  /**
   * Those fields' old and new values, secrets masked; absent when the node's held slice is not what
   * the container runs (its hash differs), so the old values are unknown.
   */
  changes?: FieldChange[];
};

export type StartAction = Target & { type: "start"; containerId: string };

export type RemoveAction = Target & {
  type: "remove";
  containerId: string;
  cause: "scale-down" | "prune" | "duplicate" | "placement";
};

export type ContainerAction = CreateAction | RecreateAction | StartAction | RemoveAction;
