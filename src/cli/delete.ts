// `treescale delete -f app/` (alias `down`), as `docker compose down`: removes what these manifests'
// stack runs, everywhere in the tree, through the same plan, confirmation and progress as apply. It is
// an apply of the stack with nothing declared and --prune: only what the nodes recorded as this
// stack's is removed; other stacks and anything TreeScale did not create are never touched.
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

type DeleteOptions = {
  file: string[];
  dryRun: boolean;
  output: "text" | "json";
  name: string;
  stack?: string;
  node?: string;
  token?: string;
  timeout: number;
  stopTimeout: number;
  yes: boolean;
};

export function registerDelete(program: Command, kinds: Kinds): void {
  const command = program
    .command("delete")
    .alias("down")
    .description("remove everything the manifests' stack runs, on every node (as docker compose down)");
  addStackOption(addNodeNameOption(addFileOption(command)))
    .option("--dry-run", "print what would be removed and change nothing", false)
    .addOption(outputOption(["text", "json"] as const, "text"))
    .option("--node <host:port|url>", "delete through this node of the tree (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--timeout <seconds>", "one deadline for the whole delete", wholeNumber("--timeout", 1), 300)
    .option(
      "--stop-timeout <seconds>",
      "embedded node: grace period before a stopped container is killed",
      wholeNumber("--stop-timeout", 0),
      10,
    )
    .option("-y, --yes", "do not ask before removing (never asked when stdin is not a terminal)", false)
    .action((options: DeleteOptions) => runDelete(options, kinds));
}

async function runDelete(options: DeleteOptions, kinds: Kinds): Promise<void> {
  const early = new BeforeApplying("delete", options.output);
  try {
    await deleteWith(early, options, kinds);
  } finally {
    early.handOver();
  }
}

async function deleteWith(early: BeforeApplying, options: DeleteOptions, kinds: Kinds): Promise<void> {
  const files = requireFiles(options.file);
  const registry = new Registry(kinds());
  const loaded = await loadOrExit(files, registry.sections());
  // The servers stay: they say where the tree is. Everything the stack runs goes.
  const nothing = {
    ...loaded,
    desired: { ...loaded.desired, containers: {}, balancers: {}, extensions: {} },
  };
  early.phase = "connecting";
  const fleet = await openFleet({ ...options, readOnly: options.dryRun }, () =>
    kinds({ stopTimeoutSeconds: options.stopTimeout }),
  );
  early.closing(() => fleet.close());
  try {
    process.exitCode = await runFleetApply(
      fleet.bus,
      nothing,
      registry,
      {
        stack: stackOf(options.stack, loaded, files),
        prune: true,
        allowEmpty: true,
        dryRun: options.dryRun,
        output: options.output,
        timeoutMs: options.timeout * 1000,
        gatherMs: 3000,
        interruptible: true,
        beforeApplying: early,
        ...confirmation(options),
      },
      fleet,
    );
  } finally {
    await fleet.close();
  }
}
