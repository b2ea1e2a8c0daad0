// `treescale diff -f …`: the plan only, for the tree or (without --node) this machine.
// Exit 0 no differences, 1 differences, 2 invalid input or an error computing them, 70 a bug.
import type { Command } from "commander";
import { EXIT, ExitError, errorMessage, InternalError, TreescaleError } from "../errors.js";
import { Registry } from "../reconcile/registry.js";
import type { Kinds } from "./kinds.js";
import { loadOrExit } from "./load-manifests.js";
import {
  addFileOption,
  addNodeNameOption,
  addStackOption,
  outputOption,
  requireFiles,
  stackOf,
} from "./shared-options.js";

type DiffOptions = {
  file: string[];
  prune: boolean;
  output: "text" | "json";
  name: string;
  stack?: string;
  node?: string;
  token?: string;
};

export function registerDiff(program: Command, kinds: Kinds): void {
  const command = program
    .command("diff")
    .description("show what apply would change; exit 1 when anything differs");
  addStackOption(addNodeNameOption(addFileOption(command)))
    .option("--prune", "also show owned objects that left the manifests as removals", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    .option("--node <host:port|url>", "diff against the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .action((options: DiffOptions) => exitTwoOnError(() => runDiff(options, kinds)));
}

/**
 * diff's 1 means "differences", so an expected failure to compute one (an engine or node that
 * does not answer) exits 2; a bug keeps the CLI's 70 so it is never mistaken for either.
 */
async function exitTwoOnError(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ExitError || error instanceof InternalError || !(error instanceof TreescaleError))
      throw error;
    throw new ExitError(2, `error: ${errorMessage(error)}`);
  }
}

async function runDiff(options: DiffOptions, kinds: Kinds): Promise<void> {
  const files = requireFiles(options.file);
  const registry = new Registry(kinds());
  const loaded = await loadOrExit(files, registry.sections());
  const [{ openFleet }, { planFromTree }, { fleetPlanJson, renderFleetPlanText }, { planDiffers }] =
    await Promise.all([
      import("./fleet-connection.js"),
      import("./fleet-apply.js"),
      import("../fleet/render.js"),
      import("../fleet/fleet-plan.js"),
    ]);
  const fleet = await openFleet({ ...options, readOnly: true }, kinds);
  try {
    const plan = await planFromTree(
      fleet.bus,
      loaded,
      registry,
      {
        stack: stackOf(options.stack, loaded, files),
        prune: options.prune,
        allowEmpty: true,
        gatherMs: 3000,
      },
      fleet,
    );
    process.stdout.write(
      options.output === "json"
        ? `${JSON.stringify(fleetPlanJson(plan, registry), null, 2)}\n`
        : renderFleetPlanText(plan, registry),
    );
    process.exitCode = planDiffers(plan) ? EXIT.differences : EXIT.ok;
  } finally {
    await fleet.close();
  }
}
