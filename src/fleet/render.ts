// A fleet plan as people and scripts read it: text node by node in terraform's style, or JSON
// with the same content.
import type { PlannedAction } from "../reconcile/controller.js";
import type { Registry } from "../reconcile/registry.js";
import { actionLines, countEffects, noteLines, summaryLine } from "../reconcile/render.js";
import type { FleetPlan } from "./fleet-plan.js";

export function renderFleetPlanText(plan: FleetPlan, registry: Registry): string {
  const lines: string[] = [];
  const describe = (action: PlannedAction) => registry.describe(action);
  for (const node of plan.nodes) {
    if (!node.reachable) {
      const share = Object.entries(node.slice.resources)
        .filter(([, entry]) => entry.replicas.length > 0)
        .map(([key, entry]) => `${key}×${entry.replicas.length}`);
      const why = node.blind.length > 0 ? `cannot see its objects (${node.blind.join("; ")})` : "UNREACHABLE";
      lines.push(
        `node ${node.node}: ${why} — nothing sent; its share (${share.join(", ") || "none"}) is kept for it`,
      );
      continue;
    }
    if (node.undeclared) {
      lines.push(`node ${node.node}: not among the manifests' servers; left alone`);
      continue;
    }
    if (node.actions.length === 0 && node.notes.length === 0) {
      lines.push(`node ${node.node}: no changes (${node.unchanged} as declared)`);
      continue;
    }
    lines.push(`node ${node.node}:`, ...actionLines(node.actions.map(describe)), ...noteLines(node.notes));
  }
  const fleetLines = plan.fleet.actions.map(describe);
  if (fleetLines.length > 0 || plan.fleet.notes.length > 0)
    lines.push("fleet:", ...actionLines(fleetLines), ...noteLines(plan.fleet.notes));
  for (const item of plan.unschedulable)
    lines.push(`  ! unschedulable ${item.kind}/${item.resource}: ${item.reason}`);
  for (const note of plan.unsupported) lines.push(`  ! ${note.target}: ${note.reason}`);
  if (plan.pruneRefused) lines.push(`  ! prune refused: ${plan.pruneRefused}`);
  const all = [...plan.nodes.flatMap((n) => n.actions.map(describe)), ...fleetLines];
  lines.push(
    "",
    all.length > 0
      ? summaryLine(countEffects(all))
      : plan.unsupported.length > 0
        ? `Nothing to change that this version can act on; ${plan.unsupported.length} declared resource${plan.unsupported.length === 1 ? " has" : "s have"} no controller (listed above).`
        : "No changes. The fleet matches the manifests.",
  );
  return `${lines.join("\n")}\n`;
}

/** The JSON form: specs are left out (they are the manifests), everything needed to act on the plan is in. */
export function fleetPlanJson(plan: FleetPlan, registry: Registry): Record<string, unknown> {
  const json = (action: PlannedAction) => registry.actionJson(action);
  const all = [...plan.nodes.flatMap((n) => n.actions), ...plan.fleet.actions];
  return {
    stack: plan.stack,
    generation: plan.generation,
    summary: countEffects(all.map((action) => registry.describe(action))),
    nodes: plan.nodes.map((node) => ({
      node: node.node,
      reachable: node.reachable,
      ...(node.blind.length > 0 ? { blind: node.blind } : {}),
      undeclared: node.undeclared,
      unchanged: node.unchanged,
      actions: node.actions.map(json),
      notes: node.notes,
    })),
    fleet: { actions: plan.fleet.actions.map(json), notes: plan.fleet.notes },
    unreachable: plan.unreachable,
    unschedulable: plan.unschedulable,
    unsupported: plan.unsupported,
    ...(plan.pruneRefused ? { pruneRefused: plan.pruneRefused } : {}),
  };
}
