// `treescale diff -f …`: the plan only. Exit 0 no differences, 1 differences, 2 invalid input.
import type { Command } from "commander";
import { EXIT, ExitError, errorMessage } from "../errors.js";
import type { LoadResult } from "../manifest/index.js";
import { planToJson, renderPlanText } from "../plan/render.js";
import { goesThroughBus } from "./bus-target.js";
import { loadOrExit } from "./load-manifests.js";
import {
  addFileOption,
  addNodeNameOption,
  openLocalNode,
  outputOption,
  requireFiles,
} from "./shared-options.js";

type DiffOptions = {
  file: string[];
  prune: boolean;
  output: "text" | "json";
  name: string;
  node?: string;
  token?: string;
};

export function registerDiff(program: Command): void {
  const command = program
    .command("diff")
    .description("show what apply would change; exit 1 when anything differs");
  addNodeNameOption(addFileOption(command))
    .option("--prune", "also show owned containers that left the manifests as removals", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    .option("--node <host:port|url>", "diff against the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .action((options: DiffOptions) => exitTwoOnError(() => runDiff(options)));
}

/** diff's 1 means "differences", so every failure to compute one must exit 2, not 1. */
async function exitTwoOnError(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ExitError) throw error;
    throw new ExitError(2, `error: ${errorMessage(error)}`);
  }
}

async function runDiff(options: DiffOptions): Promise<void> {
  const loaded = await loadOrExit(requireFiles(options.file));
  if (await goesThroughBus(options)) {
    process.exitCode = await diffTree(loaded, options);
    return;
  }
  const { desired } = loaded;
  const node = openLocalNode(options.name);
  const { plan } = await node.plan(desired, options.prune);
  process.stdout.write(
    options.output === "json" ? `${JSON.stringify(planToJson(plan), null, 2)}\n` : renderPlanText(plan),
  );
  const differs = plan.actions.length > 0 || plan.unschedulable.length > 0;
  process.exitCode = differs ? EXIT.differences : EXIT.ok;
}

/** The fleet plan for the tree: differences are container actions, link moves or unschedulable resources. */
async function diffTree(loaded: LoadResult, options: DiffOptions): Promise<number> {
  const [{ openFleet }, { planFromTree }, { renderFleetPlanText }] = await Promise.all([
    import("./fleet-connection.js"),
    import("./fleet-apply.js"),
    import("../fleet/render.js"),
  ]);
  const fleet = await openFleet(options);
  try {
    const plan = await planFromTree(
      fleet.bus,
      { ...loaded, desired: fleet.view(loaded.desired) },
      {
        prune: options.prune,
        allowEmpty: true,
        gatherMs: 3000,
      },
    );
    process.stdout.write(
      options.output === "json" ? `${JSON.stringify(plan, null, 2)}\n` : renderFleetPlanText(plan),
    );
    const differs =
      plan.nodes.some((n) => n.actions.length > 0) ||
      plan.links.some((l) => l.type === "move") ||
      plan.unschedulable.length > 0 ||
      plan.unreachable.length > 0;
    return differs ? EXIT.differences : EXIT.ok;
  } finally {
    await fleet.close();
  }
}
