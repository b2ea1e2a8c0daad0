// `treescale apply --node …`: plan for the whole tree, then converge it node by node over the bus.

import { moveLinks } from "../../controllers/node-link.js";
import { EXIT, UsageError } from "../errors.js";
import { applyFleet, gatherStates, type NodeOutcome } from "../fleet/fleet-apply.js";
import type { FleetBus } from "../fleet/fleet-bus.js";
import { type FleetPlan, planFleet } from "../fleet/fleet-plan.js";
import { renderFleetPlanText } from "../fleet/render.js";
import type { LoadResult } from "../manifest/index.js";

export type FleetApplyFlags = {
  prune: boolean;
  allowEmpty: boolean;
  dryRun: boolean;
  output: "text" | "json";
  timeoutMs: number;
  gatherMs: number;
};

export async function planFromTree(
  bus: FleetBus,
  loaded: LoadResult,
  flags: Pick<FleetApplyFlags, "prune" | "allowEmpty" | "gatherMs">,
): Promise<FleetPlan> {
  const { desired } = loaded;
  if (flags.prune && Object.keys(desired.containers).length === 0 && !flags.allowEmpty) {
    throw new UsageError(
      "refusing to prune everything: the manifests declare no containers; pass --allow-empty if that is what you mean",
    );
  }
  const declared = Object.keys(desired.servers).length;
  const states = await gatherStates(bus, flags.gatherMs, declared > 0 ? declared : undefined);
  return planFleet({ desired, states, prune: flags.prune });
}

/** Returns the exit code: 0 every node converged, 1 anything else (each node's outcome printed). */
export async function runFleetApply(
  bus: FleetBus,
  loaded: LoadResult,
  flags: FleetApplyFlags,
): Promise<number> {
  const plan = await planFromTree(bus, loaded, flags);
  const json = flags.output === "json";
  if (!json) process.stdout.write(renderFleetPlanText(plan));
  if (flags.dryRun) {
    if (json) process.stdout.write(`${JSON.stringify({ dryRun: true, plan }, null, 2)}\n`);
    return EXIT.ok;
  }
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const outcomes = await applyFleet({ bus, plan, timeoutMs: flags.timeoutMs, onProgress: progress });
  const links = await moveLinks({
    bus,
    desired: loaded.desired,
    changes: plan.links,
    timeoutMs: flags.timeoutMs,
    onProgress: progress,
  });
  const converged =
    outcomes.every((o) => o.result === "converged" || o.result === "left-alone" || o.result === "pending") &&
    links.every((l) => l.ok) &&
    plan.unschedulable.length === 0;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ generation: plan.generation, outcomes, links, converged }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`\n${outcomes.map(describe).join("\n")}\n`);
    for (const link of links)
      process.stdout.write(
        `link ${link.child} → ${link.to}: ${link.ok ? "moved" : `NOT moved: ${link.message}`}\n`,
      );
    process.stdout.write(
      converged ? `Fleet converged at generation ${plan.generation}.\n` : "Fleet NOT converged.\n",
    );
  }
  return converged ? EXIT.ok : EXIT.failed;
}

function describe(outcome: NodeOutcome): string {
  const mark =
    outcome.result === "converged"
      ? "✓"
      : outcome.result === "left-alone" || outcome.result === "pending"
        ? "-"
        : "✗";
  return `${mark} ${outcome.node}: ${outcome.result}: ${outcome.message}`;
}
