// `treescale get containers|nodes|links|status`: what runs, gathered live — from the tree over the
// bus with --node (or a running embedded node), else read off this machine's engine. Unreachable
// nodes are listed as such, never left out.
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { LastAppliedStore, treescaleHome } from "../state/last-applied.js";
import { goesThroughBus } from "./bus-target.js";
import { collect, wholeNumber } from "./flag-values.js";
import { engineRows, KINDS, type Kind, type Row, treeRows } from "./get-rows.js";
import { type RowFormat, render } from "./row-output.js";
import { addNodeNameOption, openLocalNode, outputOption } from "./shared-options.js";

type GetOptions = {
  output: RowFormat;
  name: string;
  node?: string;
  token?: string;
  file: string[];
  wait: number;
};

export function registerGet(program: Command): void {
  const command = program
    .command("get")
    .description("list observed resources: containers, nodes, links, or each resource's status per node")
    .argument("<kind>", "containers | nodes | links | status");
  addNodeNameOption(command)
    .addOption(outputOption(["table", "json", "yaml"] as const, "table"))
    .option("--node <host:port|url>", "gather from the tree through this node (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option(
      "-f, --file <path>",
      "manifests: declared servers that do not answer are shown as unreachable",
      collect,
      [],
    )
    .option("--wait <ms>", "how long to gather answers from the tree", wholeNumber("--wait", 1), 2000)
    .action(async (kind: string, options: GetOptions) => {
      const resolved = KINDS[kind as keyof typeof KINDS];
      if (!resolved)
        throw new UsageError(`unknown kind "${kind}": choose containers, nodes, links or status`);
      const rows = (await goesThroughBus(options))
        ? await fromTree(resolved, options)
        : await fromEngine(resolved, options);
      process.stdout.write(await render(rows, options.output));
    });
}

async function fromEngine(kind: Kind, options: GetOptions): Promise<Row[]> {
  const node = openLocalNode(options.name);
  const [containers, applied] = await Promise.all([
    node.engine.listOwned(node.name),
    new LastAppliedStore(treescaleHome(), node.name).read(),
  ]);
  return engineRows(kind, node.name, containers, applied);
}

async function fromTree(kind: Kind, options: GetOptions): Promise<Row[]> {
  const [{ openFleet }, { gatherStates }, { loadOrExit }] = await Promise.all([
    import("./fleet-connection.js"),
    import("../fleet/fleet-apply.js"),
    import("./load-manifests.js"),
  ]);
  const declared =
    options.file.length > 0 ? Object.values((await loadOrExit(options.file)).desired.servers) : [];
  const fleet = await openFleet(options);
  try {
    const states = await gatherStates(
      fleet.bus,
      options.wait,
      declared.length > 0 ? declared.length : undefined,
    );
    return treeRows(kind, states, declared);
  } finally {
    await fleet.close();
  }
}
