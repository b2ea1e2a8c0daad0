import { describe, expect, it } from "vitest";
import { destroys } from "../../../src/cli/fleet-apply.js";
import { planFleet } from "../../../src/fleet/fleet-plan.js";
import { type ContainerSpec, emptyDesiredState } from "../../../src/model/resources.js";
import { nodeState, observation, stackState } from "../../support/node-state.js";
import { planningRegistry } from "../../support/registry.js";
import { running, STACK, spec } from "../controllers/container/fixtures.js";

const registry = planningRegistry();

/** The plan for node `solo`, which runs `current` as applied at generation 1, towards `wanted`. */
function plan(current: ContainerSpec[], wanted: ContainerSpec[], prune = false) {
  const desired = emptyDesiredState();
  for (const c of wanted) desired.containers[c.name] = c;
  const resources = Object.fromEntries(
    current.map((c) => [`container/${c.name}`, { spec: c, replicas: [1] }]),
  );
  const state = nodeState("solo", {
    observed: { container: observation(current.map((c) => running("solo", c, 1))) },
    stacks: { [STACK]: stackState(STACK, 1, resources) },
  });
  return planFleet({ desired, states: [state], stack: STACK, prune, registry });
}

describe("apply asks before destruction", () => {
  it("asks for a recreate or a prune", () => {
    expect(destroys(plan([spec("web")], [spec("web", { image: "other:2" })]), registry)).toBe(true);
    expect(destroys(plan([spec("web"), spec("old")], [spec("web")], true), registry)).toBe(true);
  });

  it("does not ask when the plan only creates, or keeps what left the manifests without --prune", () => {
    expect(destroys(plan([], [spec("web", { replicas: 2 })]), registry)).toBe(false);
    expect(destroys(plan([spec("web"), spec("old")], [spec("web")]), registry)).toBe(false);
    expect(destroys(plan([spec("web")], [spec("web")]), registry)).toBe(false);
  });
});
