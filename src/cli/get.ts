// `treescale get <kind>`: what runs, gathered live from the tree over the bus with --node, else from
// the embedded node (started here or joined) — the same answer either way. Unreachable nodes and
// nodes that cannot see their engine are listed as such, never left out. `-w` keeps watching: every
// event an agent or a node publishes makes it look again and print the rows that changed.
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { FleetBus } from "../fleet/fleet-bus.js";
import type { ServerSpec } from "../model/resources.js";
import { AGENT_EVENTS, type NodeState } from "../model/wire.js";
import { Registry } from "../reconcile/registry.js";
import { chosenContext, readServerRecords, type ServerRecord } from "../state/contexts.js";
import { treescaleHome } from "../state/stack-files.js";
import { collect, wholeNumber } from "./flag-values.js";
import {
  FIXED_KINDS,
  objectRows,
  objectShape,
  type Row,
  type StackFilter,
  TREE_SHAPES,
  treeRows,
} from "./get-rows.js";
import type { Kinds } from "./kinds.js";
import { ROW_FORMATS, type RowFormat, type RowShape, render } from "./row-output.js";
import { parseLabelSelector } from "./selectors.js";
import { addNodeNameOption, addStackOption, outputOption, stackOf } from "./shared-options.js";
import { nextStopSignal } from "./stop-signal.js";
import { watchRows } from "./watch-rows.js";

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
  selector?: string;
  tag: string[];
  watch: boolean;
};

type ToRows = (states: NodeState[], declared: ServerSpec[], filter: StackFilter) => Row[];

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
    .addOption(outputOption(ROW_FORMATS, "table"))
    .option(
      "-l, --selector <labels>",
      "only objects whose labels match: key=value, key!=value, key, !key, comma-separated (all must hold)",
    )
    .option(
      "--tag <tag>",
      "only nodes carrying this tag, and what runs on them (repeatable: all)",
      collect,
      [],
    )
    .option("-w, --watch", "after the list, print rows as they change (Ctrl-C to stop)", false)
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
      const shape: RowShape = controller ? objectShape(controller) : TREE_SHAPES[fixed!];
      const toRows: ToRows = (states, declared, filter) =>
        controller
          ? objectRows(controller, states, declared, filter)
          : treeRows(fixed!, states, declared, filter, built);
      await gather(
        options,
        kinds,
        registry,
        toRows,
        shape,
        built.map((r) => r.name),
      );
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
  const [{ connectClient, requiredTreeEndpoint }, { imageRows }] = await Promise.all([
    import("./bus-connection.js"),
    import("./image.js"),
  ]);
  const client = await connectClient(await requiredTreeEndpoint(options), { reconnect: false });
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

/** What makes `get -w` look again: anything an agent or a node announces about itself. */
const WATCHED_EVENTS = [
  AGENT_EVENTS.status,
  AGENT_EVENTS.progress,
  AGENT_EVENTS.drift,
  AGENT_EVENTS.objects,
  "node.up",
  "node.down",
];

async function gather(
  options: GetOptions,
  kinds: Kinds,
  registry: Registry,
  toRows: ToRows,
  shape: RowShape,
  /** Servers to wait for besides the declared ones (those a build recorded). */
  recorded: readonly string[] = [],
): Promise<void> {
  if (options.watch && (options.output === "json" || options.output === "yaml"))
    throw new UsageError("-w prints rows as they change: use it with -o table, wide or name");
  const [{ openFleet }, { gatherStates, gatherUntil }, { loadOrExit }] = await Promise.all([
    import("./fleet-connection.js"),
    import("../fleet/fleet-apply.js"),
    import("./load-manifests.js"),
  ]);
  const loaded = options.file.length > 0 ? await loadOrExit(options.file, registry.sections()) : undefined;
  const filter: StackFilter = {
    ...(options.allStacks || (options.stack === undefined && loaded === undefined)
      ? {}
      : { stack: stackOf(options.stack, loaded ?? {}, options.file) }),
    ...(options.selector !== undefined ? { labels: parseLabelSelector(options.selector) } : {}),
    ...(options.tag.length > 0 ? { tags: options.tag } : {}),
  };
  const fleet = await openFleet({ ...options, readOnly: true }, kinds);
  try {
    const declared = loaded ? Object.values(fleet.view(loaded.desired).servers) : [];
    const named = [...new Set([...declared.map((s) => s.name), ...recorded])];
    const expected = named.length > 0 ? named : fleet.embedded ? [fleet.embedded] : undefined;
    const look = async (first: boolean) => {
      // An embedded node started for this look has just begun: give it until --wait to list its
      // engine and evaluate what it holds, so the answer is what it sees, not what it has not looked at.
      const states =
        fleet.embedded && first
          ? await gatherUntil(fleet.bus, options.wait, expected, (found) => found.every(evaluated))
          : await gatherStates(fleet.bus, options.wait, expected);
      return toRows(states, declared, filter);
    };
    const rows = await look(true);
    // Listening before the table is printed: a script sends Ctrl-C once it has seen the table.
    const stopped = options.watch ? nextStopSignal() : undefined;
    process.stdout.write(await render(rows, options.output, shape));
    if (stopped) await watchUntilInterrupted(fleet.bus, rows, shape, options.output, look, stopped);
  } finally {
    await fleet.close();
  }
}

async function watchUntilInterrupted(
  bus: FleetBus,
  first: Row[],
  shape: RowShape,
  format: RowFormat,
  look: (first: boolean) => Promise<Row[]>,
  stopped: Promise<NodeJS.Signals>,
): Promise<void> {
  const watcher = await watchRows({
    first,
    shape,
    format,
    look: () => look(false),
    write: (text) => process.stdout.write(text),
    listen: (handler) => bus.listen(WATCHED_EVENTS, handler),
  });
  await stopped;
  watcher.stop();
}
