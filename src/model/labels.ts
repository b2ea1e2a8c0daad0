// The labels that mark what TreeScale owns. Anything without MANAGED=true is never touched.

export const LABELS = {
  managed: "treescale.managed",
  /** The stack (compose's project) an apply belongs to: prune and delete act within one stack. */
  stack: "treescale.stack",
  resource: "treescale.resource",
  node: "treescale.node",
  replica: "treescale.replica",
  hash: "treescale.hash",
  fieldHashes: "treescale.fields",
  generation: "treescale.generation",
} as const;

/** Containers created before stacks existed carry no stack label: they read as this stack. */
export const LEGACY_STACK = "default";

/**
 * Node, stack and resource names are lowercase letters, digits and '-', so '_' cannot occur in
 * them: joined by '_' every name is unambiguous on an engine that several nodes share
 * (node `a-b` with resource `c` and node `a` with resource `b-c` no longer meet).
 */
export function containerName(stack: string, node: string, resource: string, replica: number): string {
  return `${stack}_${resource}_${replica}_${node}`;
}
