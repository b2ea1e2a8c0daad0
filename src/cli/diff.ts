// `treescale diff -f …`: the plan only. Exit 0 no differences, 1 differences, 2 invalid input.
import type { Command } from "commander";
import { EXIT } from "../errors.js";
import { planToJson, renderPlanText } from "../plan/render.js";
import { loadOrExit } from "./load-manifests.js";
import {
  addFileOption,
  addNodeNameOption,
  openLocalNode,
  outputOption,
  requireFiles,
} from "./shared-options.js";

type DiffOptions = { file: string[]; prune: boolean; output: "text" | "json"; name: string };

export function registerDiff(program: Command): void {
  const command = program
    .command("diff")
    .description("show what apply would change; exit 1 when anything differs");
  addNodeNameOption(addFileOption(command))
    .option("--prune", "also show owned containers that left the manifests as removals", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    .action(async (options: DiffOptions) => {
      const { desired } = await loadOrExit(requireFiles(options.file));
      const node = openLocalNode(options.name);
      const { plan } = await node.plan(desired, options.prune);
      process.stdout.write(
        options.output === "json" ? `${JSON.stringify(planToJson(plan), null, 2)}\n` : renderPlanText(plan),
      );
      const differs = plan.actions.length > 0 || plan.unschedulable.length > 0;
      process.exitCode = differs ? EXIT.differences : EXIT.ok;
    });
}
