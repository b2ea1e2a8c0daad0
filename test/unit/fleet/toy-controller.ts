// A node-scope kind that exists only in the tests ("toy": something painted a color on every node,
// declared under the manifests' `toys` section): proof that the fleet planner plans any kind
// handed to the registry, with nothing in src/ knowing its name.
import type {
  NodeController,
  ObservedObject,
  Placement,
  PlannedAction,
} from "../../../src/reconcile/controller.js";

export type ToySpec = { name: string; color: string };
export type ObservedToy = ObservedObject & { node: string; color: string };
export type PaintAction = PlannedAction & {
  kind: "toy";
  type: "paint";
  stack: string;
  replica: number;
  color: string;
};

export function toyController(): NodeController<ToySpec, ObservedToy, PaintAction> {
  return {
    kind: "toy",
    scope: "node",
    nouns: ["toys", "toy"],
    specs: (desired) => (desired.extensions.toys ?? {}) as Record<string, ToySpec>,
    place: (specs, nodes) => {
      const shares: Placement["shares"] = new Map(
        Object.keys(specs).map((name) => [name, new Map(nodes.map((node) => [node.name, [1]]))]),
      );
      return { shares, unschedulable: [] };
    },
    checkSpec: () => [],
    plan: ({ node, stack, entries, observed }) => {
      const actions: PaintAction[] = [];
      let unchanged = 0;
      for (const [resource, entry] of Object.entries(entries)) {
        for (const replica of entry.replicas) {
          const painted = observed.some(
            (toy) => toy.resource === resource && toy.replica === replica && toy.color === entry.spec.color,
          );
          if (painted) unchanged += 1;
          else
            actions.push({
              kind: "toy",
              type: "paint",
              node,
              stack,
              resource,
              replica,
              color: entry.spec.color,
            });
        }
      }
      return { actions, notes: [], unchanged };
    },
    readiness: (entry) => ({
      condition: "Ready",
      reason: "Painted",
      message: "",
      ready: entry.replicas.length,
    }),
    describe: (action) => ({
      effect: "update",
      verb: "paint",
      target: `${action.resource}@${action.node}`,
      reason: action.color,
    }),
    actionJson: (action) => ({
      action: action.type,
      node: action.node,
      resource: action.resource,
      color: action.color,
    }),
    rows: (observed) => observed.map((toy) => ({ name: toy.resource, node: toy.node, color: toy.color })),
    runtime: () => {
      throw new Error("the toy kind only plans");
    },
  };
}
