// `treescale apply -f …`: print the plan, converge, report each action.
// Exit 0 converged, 1 some actions failed (each named, the rest still done), 2 invalid input.
import type { Command } from "commander";
import type { ActionOutcome } from "../../controllers/container.js";
import { EXIT, UsageError } from "../errors.js";
import { planToJson, renderPlanText } from "../plan/render.js";
import { goesThroughBus } from "./bus-target.js";
import { wholeNumber } from "./flag-values.js";
import { loadOrExit } from "./load-manifests.js";
import { createProgress, describeOutcome } from "./progress.js";
import {
  addFileOption,
  addNodeNameOption,
  openLocalNode,
  outputOption,
  requireFiles,
} from "./shared-options.js";

type ApplyOptions = {
  file: string[];
  dryRun: boolean;
  prune: boolean;
  output: "text" | "json";
  name: string;
  parallel: number;
  stopTimeout: number;
  node?: string;
  token?: string;
  allowEmpty: boolean;
  timeout: number;
};

export function registerApply(program: Command): void {
  const command = program.command("apply").description("converge the engine to the manifests");
  addNodeNameOption(addFileOption(command))
    .option("--dry-run", "print the plan and change nothing", false)
    .option("--prune", "remove owned containers whose resource left the manifests", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    // 16 is where Docker's start path saturates (measured with bench/apply.ts, 8..50 in flight);
    // more in flight only queues inside the engine.
    .option("--parallel <n>", "actions in flight at once", wholeNumber("--parallel", 1), 16)
    .option(
      "--stop-timeout <seconds>",
      "grace period before a stopped container is killed",
      wholeNumber("--stop-timeout", 0),
      10,
    )
    .option("--node <host:port|url>", "apply to the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--allow-empty", "allow --prune to remove everything when no containers are declared", false)
    .option(
      "--timeout <seconds>",
      "how long to wait for every node to settle",
      wholeNumber("--timeout", 1),
      300,
    )
    .action(runApply);
}

async function runApply(options: ApplyOptions, command: Command): Promise<void> {
  const loaded = await loadOrExit(requireFiles(options.file));
  if (await goesThroughBus(options)) {
    // The tree path loads the bus client; the embedded path below never pays for it.
    const [{ openFleet }, { runFleetApply }] = await Promise.all([
      import("./fleet-connection.js"),
      import("./fleet-apply.js"),
    ]);
    for (const flag of ["parallel", "stopTimeout"] as const) {
      if (command.getOptionValueSource(flag) === "cli") {
        process.stderr.write(
          `note: --${flag === "parallel" ? "parallel" : "stop-timeout"} applies to the embedded node only; ` +
            "each node's agent has its own (treescale node --stop-timeout)\n",
        );
      }
    }
    const fleet = await openFleet(options);
    try {
      process.exitCode = await runFleetApply(
        fleet.bus,
        { ...loaded, desired: fleet.view(loaded.desired) },
        {
          prune: options.prune,
          allowEmpty: options.allowEmpty,
          dryRun: options.dryRun,
          output: options.output,
          timeoutMs: options.timeout * 1000,
          gatherMs: 3000,
        },
      );
    } finally {
      await fleet.close();
    }
    return;
  }
  const { desired } = loaded;
  if (options.prune && Object.keys(desired.containers).length === 0 && !options.allowEmpty) {
    throw new UsageError(
      "refusing to prune everything: the manifests declare no containers; pass --allow-empty if that is what you mean",
    );
  }
  const node = openLocalNode(options.name);
  const change = await node.plan(desired, options.prune);
  const { plan } = change;
  const json = options.output === "json";
  if (!json) process.stdout.write(renderPlanText(plan));

  if (options.dryRun) {
    if (json) process.stdout.write(`${JSON.stringify({ dryRun: true, plan: planToJson(plan) }, null, 2)}\n`);
    return;
  }

  const progress = createProgress(process.stderr, plan.actions.length);
  const { outcomes, generation } = await node.apply(desired, change, {
    prune: options.prune,
    progress,
    concurrency: options.parallel,
    stopTimeoutSeconds: options.stopTimeout,
  });
  progress.close();

  const failures = outcomes.filter((outcome) => !outcome.ok);
  const converged = failures.length === 0 && plan.unschedulable.length === 0;
  if (json) {
    const report = { plan: planToJson(plan), outcomes: outcomes.map(outcomeToJson), generation, converged };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else if (plan.actions.length > 0) {
    process.stdout.write(`\n${completionLine(outcomes)}\n`);
    for (const failure of failures) process.stdout.write(`  ✗ ${describeOutcome(failure)}\n`);
  }
  if (!converged) {
    const unschedulable = plan.unschedulable.map((u) => `${u.resource} (${u.reason})`);
    if (unschedulable.length > 0)
      process.stderr.write(`not converged: unschedulable: ${unschedulable.join(", ")}\n`);
    process.exitCode = EXIT.failed;
  }
}

function completionLine(outcomes: readonly ActionOutcome[]): string {
  const ok = (type: string) => outcomes.filter((o) => o.ok && o.action.type === type).length;
  const failed = outcomes.filter((o) => !o.ok).length;
  const head =
    failed > 0 ? `Apply finished with ${failed} failed action${failed === 1 ? "" : "s"}` : "Apply complete";
  return `${head}: ${ok("create")} created, ${ok("recreate")} recreated, ${ok("remove")} removed, ${ok("start")} started.`;
}

function outcomeToJson(outcome: ActionOutcome): object {
  const { action } = outcome;
  const base = {
    action: action.type,
    name: action.name,
    resource: action.resource,
    node: action.node,
    ms: Math.round(outcome.ms),
  };
  return outcome.ok
    ? { ...base, ok: true, containerId: outcome.containerId }
    : { ...base, ok: false, error: outcome.error };
}
