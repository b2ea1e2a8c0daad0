// What an agent answers to `agent.state`, with empty defaults, for tests that plan or render from it.
import type { NodeState, Observation, SliceDocument, StackState } from "../../src/model/wire.js";

/** A node that sees its containers (synced, none) and holds no stack, unless overridden. */
export function nodeState(node: string, overrides: Partial<NodeState> = {}): NodeState {
  return {
    node,
    tags: [],
    children: [],
    observed: { container: observation([]) },
    stacks: {},
    ...overrides,
  };
}

/** A kind's objects as a node that listed them sees them. */
export function observation(items: readonly unknown[], overrides: Partial<Observation> = {}): Observation {
  return { synced: true, items: [...items], ...overrides };
}

/**
 * A node's book of one stack: the slice it holds at `generation`, settled, with an inventory of
 * what the slice places on it (unless given).
 */
export function stackState(
  stack: string,
  generation: number,
  resources: SliceDocument["resources"] = {},
  overrides: Partial<StackState> = {},
): StackState {
  const inventory = Object.fromEntries(
    Object.entries(resources)
      .filter(([, entry]) => entry.replicas.length > 0)
      .map(([key, entry]) => [key, { replicas: [...entry.replicas] }]),
  );
  return {
    slice: { stack, generation, prune: false, resources },
    settled: true,
    inventory,
    statuses: [],
    ...overrides,
  };
}
