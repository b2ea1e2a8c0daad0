// `treescale apply -f …`: print the plan, converge, report each node. Without --node the embedded
// node (this machine's engine) is a tree of one, reached the same way as any other.
// Exit 0 converged, 1 something failed or is not acted on (each named), 2 invalid input.
import type { Command } from "commander";
import { Registry } from "../reconcile/registry.js";
import { BeforeApplying } from "./before-applying.js";
import { confirmation } from "./confirm.js";
import { wholeNumber } from "./flag-values.js";
import { runFleetApply } from "./fleet-apply.js";
import { openFleet } from "./fleet-connection.js";
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

type ApplyOptions = {
  file: string[];
  dryRun: boolean;
  prune: boolean;
  output: "text" | "json";
  name: string;
  stack?: string;
  parallel: number;
  stopTimeout: number;
  node?: string;
  token?: string;
  allowEmpty: boolean;
  timeout: number;
  yes: boolean;
};

export function registerApply(program: Command, kinds: Kinds): void {
  const command = program
    .command("apply")
    .description("converge the fleet (or this machine) to the manifests");
  addStackOption(addNodeNameOption(addFileOption(command)))
    .option("--dry-run", "print the plan and change nothing", false)
    .option("--prune", "remove owned objects of this stack whose resource left the manifests", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    // 16 is where Docker's start path saturates (measured with bench/apply.ts, 8..50 in flight);
    // more in flight only queues inside the engine.
    .option("--parallel <n>", "embedded node: actions in flight at once", wholeNumber("--parallel", 1), 16)
    .option(
      "--stop-timeout <seconds>",
      "embedded node: grace period before a stopped container is killed",
      wholeNumber("--stop-timeout", 0),
      10,
    )
    .option("--node <host:port|url>", "apply to the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--allow-empty", "allow --prune to remove everything when nothing is declared", false)
    .option("--timeout <seconds>", "one deadline for the whole apply", wholeNumber("--timeout", 1), 300)
    .option(
      "-y, --yes",
      "do not ask before removing or recreating (never asked when stdin is not a terminal)",
      false,
    )
    .action((options: ApplyOptions, command: Command) => runApply(options, command, kinds));
}

async function runApply(options: ApplyOptions, command: Command, kinds: Kinds): Promise<void> {
  const early = new BeforeApplying("apply", options.output);
  try {
    await applyWith(early, options, command, kinds);
  } finally {
    early.handOver();
  }
}

async function applyWith(
  early: BeforeApplying,
  options: ApplyOptions,
  command: Command,
  kinds: Kinds,
): Promise<void> {
  const files = requireFiles(options.file);
  const registry = new Registry(kinds());
  const loaded = await loadOrExit(files, registry.sections());
  const nodeSettings = { concurrency: options.parallel, stopTimeoutSeconds: options.stopTimeout };
  early.phase = "connecting";
  const fleet = await openFleet({ ...options, readOnly: options.dryRun }, () => kinds(nodeSettings));
  early.closing(() => fleet.close());
  if (!fleet.embedded) {
    for (const flag of ["parallel", "stopTimeout"] as const) {
      if (command.getOptionValueSource(flag) === "cli") {
        process.stderr.write(
          `note: --${flag === "parallel" ? "parallel" : "stop-timeout"} applies to the embedded node only; ` +
            "each node's agent has its own (treescale node --parallel, --stop-timeout)\n",
        );
      }
    }
  }
  try {
    process.exitCode = await runFleetApply(
      fleet.bus,
      loaded,
      registry,
      {
        stack: stackOf(options.stack, loaded, files),
        prune: options.prune,
        allowEmpty: options.allowEmpty,
        dryRun: options.dryRun,
        output: options.output,
        timeoutMs: options.timeout * 1000,
        gatherMs: 3000,
        interruptible: true,
        beforeApplying: early,
        // As terraform: a person at a terminal says yes to removals and recreates; scripts are not asked.
        ...confirmation(options),
      },
      fleet,
    );
  } finally {
    await fleet.close();
  }
}
