// What an agent answers to `agent.state`, with empty defaults, for tests that plan or render from it.
import type { NodeState } from "../../src/agent/status.js";

export function nodeState(node: string, overrides: Partial<NodeState> = {}): NodeState {
  return {
    node,
    tags: [],
    children: [],
    generation: 0,
    settled: true,
    containers: [],
    statuses: [],
    inventory: {},
    slice: { generation: 0, prune: false, containers: {} },
    ...overrides,
  };
}
