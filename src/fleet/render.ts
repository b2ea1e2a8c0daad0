// A fleet plan as text, node by node, in the same terraform style as a one-node plan.
import { summarize } from "../plan/actions.js";
import type { FleetPlan } from "./fleet-plan.js";

const SYMBOL = { create: "+", recreate: "~", remove: "-", start: ">" } as const;

export function renderFleetPlanText(plan: FleetPlan): string {
  const lines: string[] = [];
  const actions = plan.nodes.flatMap((n) => n.actions);
  const width = Math.max(8, ...actions.map((a) => a.name.length));
  for (const node of plan.nodes) {
    if (!node.reachable) {
      const share = Object.entries(node.slice.containers)
        .filter(([, entry]) => entry.replicas.length > 0)
        .map(([name, entry]) => `${name}×${entry.replicas.length}`);
      lines.push(
        `node ${node.node}: UNREACHABLE — nothing sent; its share (${share.join(", ") || "none"}) is kept for it`,
      );
      continue;
    }
    if (node.undeclared) {
      lines.push(`node ${node.node}: not among the manifests' servers; left alone`);
      continue;
    }
    if (node.actions.length === 0 && node.orphans.length === 0) {
      lines.push(
        `node ${node.node}: no changes (${node.unchanged} container${node.unchanged === 1 ? "" : "s"} as declared)`,
      );
      continue;
    }
    lines.push(`node ${node.node}:`);
    for (const action of node.actions) {
      lines.push(
        `  ${SYMBOL[action.type]} ${action.type.padEnd(8)} ${action.name.padEnd(width)}  ${action.reason}`,
      );
    }
    for (const orphan of node.orphans)
      lines.push(`  ! kept     ${orphan.name}  ${orphan.resource}: ${orphan.reason}`);
  }
  for (const link of plan.links) {
    lines.push(
      link.type === "move"
        ? `  ~ link ${link.child}: ${link.from ?? "(none)"} → ${link.to}`
        : `  ! link ${link.child} → ${link.to} pending: ${link.reason}`,
    );
  }
  for (const item of plan.unschedulable) lines.push(`  ! unschedulable ${item.resource}: ${item.reason}`);
  if (plan.pruneRefused) lines.push(`  ! prune refused: ${plan.pruneRefused}`);
  const s = summarize(actions);
  const moves = plan.links.filter((l) => l.type === "move").length;
  const extra = [
    s.start > 0 ? `${s.start} to start` : "",
    moves > 0 ? `${moves} link${moves === 1 ? "" : "s"} to move` : "",
  ]
    .filter(Boolean)
    .map((x) => `, ${x}`)
    .join("");
  lines.push(
    "",
    actions.length + moves === 0
      ? "No changes. The fleet matches the manifests."
      : `Plan: ${s.create} to create, ${s.recreate} to recreate, ${s.remove} to remove${extra}.`,
  );
  return `${lines.join("\n")}\n`;
}
