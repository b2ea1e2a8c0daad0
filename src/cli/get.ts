// `treescale get <kind>`: what runs, gathered live from the tree over the bus with --node, else from
// the embedded node (started here or joined) — the same answer either way. Unreachable nodes and
// nodes that cannot see their engine are listed as such, never left out.
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { ServerSpec } from "../model/resources.js";
import type { NodeState } from "../model/wire.js";
import { Registry } from "../reconcile/registry.js";
import { chosenContext, readServerRecords, type ServerRecord } from "../state/contexts.js";
import { treescaleHome } from "../state/stack-files.js";
import { collect, wholeNumber } from "./flag-values.js";
import { FIXED_KINDS, objectRows, type Row, type StackFilter, treeRows } from "./get-rows.js";
import type { Kinds } from "./kinds.js";
import { type RowFormat, render } from "./row-output.js";
import { addNodeNameOption, addStackOption, outputOption, stackOf } from "./shared-options.js";

type GetOptions = {
  output: RowFormat;
  name: string;
  node?: string;
  token?: string;
  context?: string;
  file: string[];
  stack?: string;
  allStacks: boolean;
  wait: number;
};

export function registerGet(program: Command, kinds: Kinds): void {
  const registry = new Registry(kinds());
  const nouns = registry.nodeKinds.map((k) => k.nouns[0]).filter((n) => n !== undefined);
  const choices = [...nouns, "nodes", "links", "status", "servers", "images"].join(" | ");
  const command = program
    .command("get")
    .description(
      "list what runs: each kind's objects, nodes, links, each resource's status per node, or the servers a build brought up",
    )
    .argument("<kind>", choices);
  addStackOption(addNodeNameOption(command))
    .option("-A, --all-stacks", "show every stack", false)
    .addOption(outputOption(["table", "json", "yaml"] as const, "table"))
    .option("--node <host:port|url>", "gather from the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option(
      "-f, --file <path>",
      "manifests: their stack is shown, and declared servers that do not answer appear as unreachable",
      collect,
      [],
    )
    .option("--wait <ms>", "how long to gather answers from the tree", wholeNumber("--wait", 1), 2000)
    .action(async (kind: string, options: GetOptions) => {
      if (kind === "images") {
        process.stdout.write(await render(await gatherImages(options), options.output));
        return;
      }
      const controller = registry.byNoun(kind);
      const fixed = FIXED_KINDS[kind as keyof typeof FIXED_KINDS];
      if (!controller && !fixed) throw new UsageError(`unknown kind "${kind}": choose ${choices}`);
      const built = fixed === "servers" ? await builtServers(options.node, options.context) : [];
      const rows = await gather(
        options,
        kinds,
        registry,
        (states, declared, filter) =>
          controller
            ? objectRows(controller, states, declared, filter)
            : treeRows(fixed!, states, declared, filter, built),
        built.map((r) => r.name),
      );
      process.stdout.write(await render(rows, options.output));
    });
}

/**
 * What `treescale build` recorded of its servers: in the context named, else (without --node, which
 * may be any tree) in the one the verb talks to.
 */
async function builtServers(node: string | undefined, named: string | undefined): Promise<ServerRecord[]> {
  const name = named ?? (process.env.TREESCALE_CONTEXT || undefined);
  if (name === undefined && (node ?? process.env.TREESCALE_NODE)) return [];
  const home = treescaleHome();
  const context = await chosenContext(home, name);
  return context ? readServerRecords(home, context.name) : [];
}

/** Which node has which image: asked of every node of the tree through --node. */
async function gatherImages(options: GetOptions): Promise<Row[]> {
  const [{ connectClient, connectionFrom }, { imageRows }] = await Promise.all([
    import("./bus-connection.js"),
    import("./image.js"),
  ]);
  const client = await connectClient(connectionFrom(options), { reconnect: false });
  try {
    return await imageRows(client, options.wait);
  } finally {
    await client.close();
  }
}

/** The node has listed (or failed to list) every kind and evaluated every resource it holds. */
function evaluated(state: NodeState): boolean {
  return (
    Object.values(state.observed).every((o) => o.synced || o.error !== undefined) &&
    Object.values(state.stacks).every((stack) => stack.statuses.every((s) => s.reason !== "NotEvaluated"))
  );
}

async function gather(
  options: GetOptions,
  kinds: Kinds,
  registry: Registry,
  toRows: (states: NodeState[], declared: ServerSpec[], filter: StackFilter) => Row[],
  /** Servers to wait for besides the declared ones (those a build recorded). */
  recorded: readonly string[] = [],
): Promise<Row[]> {
  const [{ openFleet }, { gatherStates, gatherUntil }, { loadOrExit }] = await Promise.all([
    import("./fleet-connection.js"),
    import("../fleet/fleet-apply.js"),
    import("./load-manifests.js"),
  ]);
  const loaded = options.file.length > 0 ? await loadOrExit(options.file, registry.sections()) : undefined;
  const filter: StackFilter =
    options.allStacks || (options.stack === undefined && loaded === undefined)
      ? {}
      : { stack: stackOf(options.stack, loaded ?? {}, options.file) };
  const fleet = await openFleet({ ...options, readOnly: true }, kinds);
  try {
    const declared = loaded ? Object.values(fleet.view(loaded.desired).servers) : [];
    const named = [...new Set([...declared.map((s) => s.name), ...recorded])];
    const expected = named.length > 0 ? named : fleet.embedded ? [fleet.embedded] : undefined;
    // An embedded node started for this look has just begun: give it until --wait to list its
    // engine and evaluate what it holds, so the answer is what it sees, not what it has not looked at.
    const states = fleet.embedded
      ? await gatherUntil(fleet.bus, options.wait, expected, (found) => found.every(evaluated))
      : await gatherStates(fleet.bus, options.wait, expected);
    return toRows(states, declared, filter);
  } finally {
    await fleet.close();
  }
}
