// The node-link kind: the parent → child edges of the tree, from the servers' `childs`. It runs
// where the apply runs and acts by telling a child its new parent.
import type { FleetController } from "../../src/reconcile/controller.js";
import { moveLinks } from "./execute.js";
import { type LinkMove, planLinks } from "./plan.js";

export function nodeLinkController(): FleetController<LinkMove> {
  return {
    kind: "node-link",
    scope: "fleet",
    plan: planLinks,
    execute: moveLinks,
    describe: (move) => ({
      effect: "update",
      verb: "link",
      target: move.resource,
      reason: `${move.from ?? "(none)"} → ${move.to}`,
    }),
    actionJson: (move) => ({ action: "move", child: move.resource, from: move.from ?? null, to: move.to }),
  };
}
