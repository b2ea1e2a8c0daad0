// `treescale watch -f DIR`: git-ops. Apply at start and on every change (debounced), log each
// outcome, and — on the embedded node — keep healing drift in between; drift the agents find and
// heal, and the errors their engines give, are printed as they happen. Exits 0 on SIGINT/SIGTERM.
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { loadManifests } from "../manifest/index.js";
import { AGENT_EVENTS, type DriftReport, type ProgressReport } from "../model/wire.js";
import { Registry } from "../reconcile/registry.js";
import { ApplyLoop } from "../watch/apply-loop.js";
import { watchDebounced } from "../watch/debounced-watcher.js";
import { DriftFeedback } from "./drift-feedback.js";
import { wholeNumber } from "./flag-values.js";
import { runFleetApply } from "./fleet-apply.js";
import { openFleet } from "./fleet-connection.js";
import type { Kinds } from "./kinds.js";
import { addFileOption, addNodeNameOption, addStackOption, requireFiles, stackOf } from "./shared-options.js";
import { nextStopSignal } from "./stop-signal.js";

type WatchFlags = {
  file: string[];
  node?: string;
  token?: string;
  name: string;
  stack?: string;
  prune: boolean;
  allowEmpty: boolean;
  heal: boolean;
  debounce: number;
  timeout: number;
};

export function registerWatch(program: Command, kinds: Kinds): void {
  const command = program.command("watch").description("re-apply whenever the manifests change (git-ops)");
  addStackOption(addNodeNameOption(addFileOption(command)))
    .option("--node <host:port|url>", "a node of the tree (default $TREESCALE_NODE; none: the embedded node)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--prune", "remove owned containers whose resource left the manifests", false)
    .option("--allow-empty", "allow --prune to remove everything when no containers are declared", false)
    .option("--no-heal", "embedded node: report drift, never heal it")
    .option(
      "--debounce <ms>",
      "quiet time before applying a burst of changes",
      wholeNumber("--debounce", 0),
      300,
    )
    .option(
      "--timeout <seconds>",
      "how long each apply waits for nodes to settle",
      wholeNumber("--timeout", 1),
      120,
    )
    .action((flags: WatchFlags) => runWatch(flags, kinds));
}

async function runWatch(flags: WatchFlags, kinds: Kinds): Promise<void> {
  // Listen for the signals first: a Ctrl-C during the first apply must also stop cleanly.
  const stopSignal = nextStopSignal();
  const files = requireFiles(flags.file);
  const registry = new Registry(kinds());
  if (files.includes("-")) throw new UsageError("watch needs files or directories to watch, not stdin");
  const fleet = await openFleet(flags, kinds);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  // Between applies, what the agents find and do: drift (healed or not) and engine errors.
  let stack: string | undefined;
  const feedback = new DriftFeedback(() => stack ?? "");
  await fleet.bus.listen([AGENT_EVENTS.drift, AGENT_EVENTS.progress], (message) => {
    try {
      const lines =
        message.event === AGENT_EVENTS.drift
          ? feedback.drift(message.json<DriftReport>())
          : feedback.progress(message.json<ProgressReport>());
      for (const line of lines) log(line);
    } catch (error) {
      log(`ignored an unreadable ${message.event}: ${(error as Error).message}`);
    }
  });
  const loop = new ApplyLoop({
    load: () => loadManifests(files, undefined, { sections: registry.sections() }),
    apply: (loaded) => {
      stack = stackOf(flags.stack, loaded, files);
      return runFleetApply(
        fleet.bus,
        loaded,
        registry,
        {
          stack,
          prune: flags.prune,
          allowEmpty: flags.allowEmpty,
          dryRun: false,
          output: "text",
          timeoutMs: flags.timeout * 1000,
          gatherMs: 2000,
        },
        fleet,
      );
    },
    log,
  });
  const watcher = watchDebounced(
    files,
    flags.debounce,
    (changed) => void loop.trigger(`changed: ${changed.join(", ")}`),
    (error) => log(`watching failed: ${error.message}; the last applied state stays in force`),
  );
  await watcher.ready;
  log(
    `watching ${files.join(", ")} (${fleet.embedded ? `embedded node ${flags.name}` : "tree"}); Ctrl-C to stop`,
  );
  void loop.trigger("start");
  await stopSignal;
  log("stopping");
  loop.stop();
  await watcher.close();
  await fleet.close();
}
