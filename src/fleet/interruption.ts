// What an apply cut short by Ctrl-C had done, node by node: each planned action finished (with its
// outcome), under way, or not started, from what the nodes reported; and what happens next.
import type { ProgressReport, ProgressStart } from "../model/wire.js";
import type { Registry } from "../reconcile/registry.js";
import type { FleetApplyResult, NodeOutcome } from "./fleet-apply.js";
import type { FleetPlan } from "./fleet-plan.js";

export type ActionState = "done" | "failed" | "under-way" | "not-started";

export type InterruptedAction = { action: string; target: string; state: ActionState; error?: string };

export type InterruptedNode = {
  node: string;
  outcome: NodeOutcome | undefined;
  actions: InterruptedAction[];
};

/**
 * Per node with planned or reported actions: where each stood when the apply ended. `nodeStopped`:
 * the embedded node ended with this command, so it carries nothing on (its outcome says so).
 */
export function interruption(
  plan: FleetPlan,
  registry: Pick<Registry, "describe">,
  result: Pick<FleetApplyResult, "actions" | "started" | "nodes">,
  nodeStopped = false,
): InterruptedNode[] {
  const key = (node: string, action: string, target: string) => `${node}\u0000${action}\u0000${target}`;
  // The last report wins: a failure the agent retried may have been followed by success.
  const finished = new Map<string, ProgressReport>();
  for (const report of result.actions) finished.set(key(report.node, report.action, report.target), report);
  const begun = new Set(result.started.map((s: ProgressStart) => key(s.node, s.action, s.target)));
  const nodes = new Map<string, InterruptedNode>();
  const entry = (node: string) => {
    let found = nodes.get(node);
    if (!found) {
      const outcome = result.nodes.find((o) => o.node === node);
      const stopped = nodeStopped && outcome?.result === "interrupted";
      found = {
        node,
        outcome: stopped ? { ...outcome, message: "stopped with this command" } : outcome,
        actions: [],
      };
      nodes.set(node, found);
    }
    return found;
  };
  const listed = new Set<string>();
  for (const node of plan.nodes) {
    if (!node.reachable || node.undeclared) continue;
    for (const action of node.actions) {
      const { verb, target } = registry.describe(action);
      const k = key(node.node, verb, target);
      listed.add(k);
      entry(node.node).actions.push(stateOf(verb, target, finished.get(k), begun.has(k)));
    }
  }
  // What a node did beyond the plan as seen here (it plans again from its slice) is said too.
  for (const [k, report] of finished) {
    if (listed.has(k)) continue;
    entry(report.node).actions.push(stateOf(report.action, report.target, report, true));
  }
  return [...nodes.values()];
}

function stateOf(
  action: string,
  target: string,
  report: ProgressReport | undefined,
  begun: boolean,
): InterruptedAction {
  if (report?.ok) return { action, target, state: "done" };
  if (report) return { action, target, state: "failed", error: report.error ?? "failed" };
  return { action, target, state: begun ? "under-way" : "not-started" };
}

const MARK: Record<ActionState, string> = { done: "✓", failed: "✗", "under-way": "…", "not-started": "·" };

/**
 * The summary people read after Ctrl-C. `embedded`: the embedded node stopped with this process
 * (`stopped` false: it did not finish stopping within the bound); otherwise the tree's nodes carry on.
 */
export function renderInterruption(
  nodes: readonly InterruptedNode[],
  plan: Pick<FleetPlan, "stack" | "generation">,
  where: { embedded: true; stopped: boolean } | { embedded: false },
): string {
  const lines = ["", `Interrupted: apply of stack ${plan.stack} (generation ${plan.generation}) cut short.`];
  for (const node of nodes) {
    lines.push(`node ${node.node}: ${headline(node.outcome)}`);
    for (const a of node.actions) {
      const how =
        a.state === "failed"
          ? `FAILED: ${a.error}`
          : a.state === "under-way"
            ? "under way"
            : a.state.replace("-", " ");
      lines.push(`  ${MARK[a.state]} ${a.action} ${a.target}: ${how}`);
    }
    lines.push(`  ${counts(node.actions)}`);
  }
  if (where.embedded) {
    const underWay = nodes.some((n) => n.actions.some((a) => a.state === "under-way"));
    lines.push(
      where.stopped
        ? "The embedded node stopped: it started nothing more, and the actions under way finished or were aborted (as listed)."
        : `The embedded node did not finish stopping in time${underWay ? "; the actions shown under way may have left their object half made" : ""}.`,
      "What is not done stays undone: apply again to converge (`treescale get status` shows what runs).",
    );
  } else {
    lines.push(
      "The nodes carry on converging the slice they accepted (their agents own it); the states above are as of the interrupt.",
      "Follow them with `treescale get status -w` or `treescale events`.",
    );
  }
  return `${lines.join("\n")}\n`;
}

function headline(outcome: NodeOutcome | undefined): string {
  if (!outcome) return "no outcome";
  return outcome.result === "interrupted" ? outcome.message : `${outcome.result}: ${outcome.message}`;
}

function counts(actions: readonly InterruptedAction[]): string {
  const n = (state: ActionState) => actions.filter((a) => a.state === state).length;
  return `${n("done")} done, ${n("failed")} failed, ${n("under-way")} under way, ${n("not-started")} not started`;
}
