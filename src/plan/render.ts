// Plans as people and scripts read them: terraform-style text, or JSON with the same content.
import { type ContainerAction, type Plan, summarize } from "./actions.js";

const SYMBOL: Record<ContainerAction["type"], string> = {
  create: "+",
  recreate: "~",
  remove: "-",
  start: ">",
};

export function renderPlanText(plan: Plan): string {
  const lines: string[] = [];
  if (plan.actions.length === 0) {
    lines.push("No changes. Containers match the manifests.");
  } else {
    lines.push("TreeScale will perform the following actions:", "");
    const width = Math.max(...plan.actions.map((a) => a.name.length));
    for (const action of plan.actions) {
      lines.push(
        `  ${SYMBOL[action.type]} ${action.type.padEnd(8)} ${action.name.padEnd(width)}  ${action.reason}`,
      );
    }
  }
  for (const orphan of plan.orphans) {
    lines.push(`  ! kept     ${orphan.name}  ${orphan.resource}: ${orphan.reason}`);
  }
  for (const item of plan.unschedulable) {
    lines.push(`  ! unschedulable ${item.resource}: ${item.reason}`);
  }
  if (plan.actions.length > 0) {
    const s = summarize(plan.actions);
    const start = s.start > 0 ? `, ${s.start} to start` : "";
    lines.push("", `Plan: ${s.create} to create, ${s.recreate} to recreate, ${s.remove} to remove${start}.`);
  }
  return `${lines.join("\n")}\n`;
}

/** The JSON form: specs are left out (they are the manifests), everything needed to act on the plan is in. */
export function planToJson(plan: Plan): object {
  return {
    summary: summarize(plan.actions),
    unchanged: plan.unchanged,
    actions: plan.actions.map(actionToJson),
    orphans: plan.orphans,
    unschedulable: plan.unschedulable,
  };
}

function actionToJson(action: ContainerAction): object {
  const base = {
    action: action.type,
    node: action.node,
    resource: action.resource,
    replica: action.replica,
    name: action.name,
    reason: action.reason,
  };
  switch (action.type) {
    case "create":
      return { ...base, hash: action.hash };
    case "recreate":
      return { ...base, containerId: action.containerId, hash: action.hash, changed: action.changed };
    case "start":
      return { ...base, containerId: action.containerId };
    case "remove":
      return { ...base, containerId: action.containerId, cause: action.cause };
  }
}
