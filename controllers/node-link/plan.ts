// The tree's shape comes from the servers' `childs`: a child whose live parent differs moves.
// Pure: from the desired servers and the nodes' answers.
import type { DesiredState } from "../../src/model/resources.js";
import type { NodeState } from "../../src/model/wire.js";
import type { PlanNote } from "../../src/reconcile/controller.js";

export type LinkMove = {
  kind: "node-link";
  type: "move";
  /** The child that moves. */
  resource: string;
  node: string;
  from: string | undefined;
  to: string;
  host: string;
  port: number;
};

export function planLinks(
  desired: DesiredState,
  states: readonly NodeState[],
): { actions: LinkMove[]; notes: PlanNote[] } {
  const byName = new Map(states.map((s) => [s.node, s]));
  const actions: LinkMove[] = [];
  const notes: PlanNote[] = [];
  const pending = (child: string, to: string, reason: string) =>
    notes.push({
      kind: "node-link",
      node: child,
      resource: child,
      verb: "pending",
      target: `${child} → ${to}`,
      reason,
    });
  for (const parent of Object.values(desired.servers)) {
    for (const child of parent.childs) {
      const childState = byName.get(child);
      if (!childState) pending(child, parent.name, `${child} is not running`);
      else if (!byName.has(parent.name)) pending(child, parent.name, `${parent.name} is not running`);
      else if (childState.parent !== parent.name)
        actions.push({
          kind: "node-link",
          type: "move",
          resource: child,
          node: child,
          from: childState.parent,
          to: parent.name,
          host: parent.ip,
          port: parent.servicePort,
        });
    }
  }
  const byChild = (a: { resource: string }, b: { resource: string }) => a.resource.localeCompare(b.resource);
  return { actions: actions.sort(byChild), notes: notes.sort(byChild) };
}
