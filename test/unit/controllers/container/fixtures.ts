// Container specs, observed containers and one node's slice entries for the container kind's unit tests.
import type { ContainerAction } from "../../../../controllers/container/actions.js";
import { assignReplicas } from "../../../../controllers/container/placement.js";
import { fieldHashes, specHash } from "../../../../controllers/container/spec-hash.js";
import { containerName } from "../../../../src/model/labels.js";
import type { ObservedContainer } from "../../../../src/model/observed.js";
import type { ContainerSpec } from "../../../../src/model/resources.js";
import type { NodeInfo, SliceEntry } from "../../../../src/reconcile/controller.js";
import { containerSpec } from "../../../support/specs.js";

export const spec = containerSpec;

/** The stack fixtures belong to unless a test names another. */
export const STACK = "shop";

let nextId = 0;

export function running(
  node: string,
  s: ContainerSpec,
  replica: number,
  state = "running",
  stack = STACK,
): ObservedContainer {
  nextId += 1;
  return {
    id: `id${nextId}`,
    name: containerName(stack, node, s.name, replica),
    node,
    stack,
    resource: s.name,
    replica,
    hash: specHash(s),
    fieldHashes: fieldHashes(s),
    image: s.image,
    state: state as ObservedContainer["state"],
    createdAt: "2026-01-01T00:00:00Z",
    restarts: null,
  };
}

/**
 * A node's container entries as the fleet planner builds its slice: every declared resource, with
 * the replicas placement gives this node (none, for a resource placed elsewhere).
 */
export function entriesFor(
  specs: Readonly<Record<string, ContainerSpec>>,
  node: string,
  nodes: readonly NodeInfo[] = [{ name: node, tags: [] }],
): Record<string, SliceEntry<ContainerSpec>> {
  const { shares } = assignReplicas(specs, nodes);
  return Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [
      name,
      { spec: s, replicas: shares.get(name)?.get(node) ?? [] },
    ]),
  );
}

/** What the engine would report after the actions ran: the test's stand-in for Docker, pure. */
export function simulate(
  observed: readonly ObservedContainer[],
  actions: readonly ContainerAction[],
): ObservedContainer[] {
  let result = [...observed];
  for (const action of actions) {
    switch (action.type) {
      case "remove":
        result = result.filter((c) => c.id !== action.containerId);
        break;
      case "start":
        result = result.map((c) => (c.id === action.containerId ? { ...c, state: "running" } : c));
        break;
      case "recreate":
        result = result.filter((c) => c.id !== action.containerId);
        result.push(running(action.node, action.spec, action.replica, "running", action.stack));
        break;
      case "create":
        result.push(running(action.node, action.spec, action.replica, "running", action.stack));
        break;
    }
  }
  return result;
}
