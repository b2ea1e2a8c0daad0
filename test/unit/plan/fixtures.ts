import type { ObservedContainer } from "../../../src/model/observed.js";
import type { ContainerSpec } from "../../../src/model/resources.js";
import { fieldHashes, specHash } from "../../../src/model/spec-hash.js";
import type { ContainerAction } from "../../../src/plan/actions.js";
import { containerSpec } from "../../support/specs.js";

export const spec = containerSpec;

let nextId = 0;

export function running(
  node: string,
  s: ContainerSpec,
  replica: number,
  state = "running",
): ObservedContainer {
  nextId += 1;
  return {
    id: `id${nextId}`,
    name: `${node}-${s.name}-${replica}`,
    node,
    resource: s.name,
    replica,
    hash: specHash(s),
    fieldHashes: fieldHashes(s),
    image: s.image,
    state: state as ObservedContainer["state"],
    createdAt: "2026-01-01T00:00:00Z",
  };
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
        result.push(running(action.node, action.spec, action.replica));
        break;
      case "create":
        result.push(running(action.node, action.spec, action.replica));
        break;
    }
  }
  return result;
}
