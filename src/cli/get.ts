// `treescale get containers|nodes|links`: what runs, gathered live — from the tree over the bus
// with --node, or from this machine's engine for the embedded node. Unreachable nodes are listed
// as such, never left out.
import type { Command } from "commander";
import type { NodeState } from "../agent/status.js";
import { UsageError } from "../errors.js";
import type { ObservedContainer } from "../model/observed.js";
import { LastAppliedStore, treescaleHome } from "../state/last-applied.js";
import { goesThroughBus } from "./bus-target.js";
import { addNodeNameOption, collect, openLocalNode, outputOption, wholeNumber } from "./shared-options.js";

type GetOptions = {
  output: "table" | "json" | "yaml";
  name: string;
  node?: string;
  token?: string;
  file: string[];
  wait: number;
};

const KINDS = {
  containers: "containers",
  container: "containers",
  nodes: "nodes",
  node: "nodes",
  links: "links",
  link: "links",
  status: "status",
  statuses: "status",
} as const;
type Kind = (typeof KINDS)[keyof typeof KINDS];

type Row = Record<string, string | number>;

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
  const containers = await node.engine.listOwned(node.name);
  if (kind === "containers") return containerRows(containers);
  if (kind === "nodes") {
    return [
      {
        name: node.name,
        status: "Ready",
        parent: "-",
        tags: "-",
        containers: containers.length,
        generation: "-",
      },
    ];
  }
  if (kind === "status") return engineStatusRows(node.name, containers);
  return [];
}

/**
 * Without an agent, status is read off the engine against what this node recorded as applied:
 * Ready when every recorded replica runs (and is not failing its health check).
 */
async function engineStatusRows(node: string, containers: readonly ObservedContainer[]): Promise<Row[]> {
  const applied = await new LastAppliedStore(treescaleHome(), node).read();
  return Object.entries(applied.inventory)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, { replicas }]) => {
      const mine = containers.filter((c) => c.resource === resource && replicas.includes(c.replica));
      const running = mine.filter((c) => c.state === "running" && c.health !== "unhealthy").length;
      const unhealthy = mine.some((c) => c.health === "unhealthy");
      const condition = unhealthy ? "Stalled" : running === replicas.length ? "Ready" : "Reconciling";
      const reason = unhealthy ? "Unhealthy" : running === replicas.length ? "Converged" : "NotRunning";
      return {
        node,
        resource,
        condition,
        reason,
        ready: `${running}/${replicas.length}`,
        generation: applied.generation,
        message: `${running}/${replicas.length} replicas running`,
      };
    });
}

async function fromTree(kind: Kind, options: GetOptions): Promise<Row[]> {
  const [{ openFleet }, { gatherStates }, { loadOrExit }] = await Promise.all([
    import("./fleet-connection.js"),
    import("../fleet/fleet-apply.js"),
    import("./load-manifests.js"),
  ]);
  const declared =
    options.file.length > 0 ? Object.values((await loadOrExit(options.file)).desired.servers) : [];
  const fleet = await openFleet({
    name: options.name,
    ...(options.node ? { node: options.node } : {}),
    ...(options.token ? { token: options.token } : {}),
  });
  try {
    const states = await gatherStates(
      fleet.bus,
      options.wait,
      declared.length > 0 ? declared.length : undefined,
    );
    const missing = missingNodes(
      states,
      declared.map((s) => s.name),
    );
    if (kind === "containers") {
      const rows = containerRows(states.flatMap((s) => s.containers));
      for (const [name, why] of missing)
        rows.push({
          name: "?",
          resource: "?",
          node: name,
          image: "?",
          state: `unknown (${why})`,
          health: "",
          id: "",
        });
      return rows;
    }
    if (kind === "status") {
      const rows: Row[] = states.flatMap((s) =>
        s.statuses.map((status) => ({
          node: status.node,
          resource: status.resource,
          condition: status.condition,
          reason: status.reason,
          ready: `${status.ready}/${status.desired}`,
          generation: status.observedGeneration,
          message: status.message,
        })),
      );
      for (const [name, why] of missing) {
        rows.push({
          node: name,
          resource: "*",
          condition: "Unknown",
          reason: "NodeUnreachable",
          ready: "?",
          generation: "?",
          message: why,
        });
      }
      return rows.sort((a, b) => `${a.node}/${a.resource}`.localeCompare(`${b.node}/${b.resource}`));
    }
    if (kind === "nodes") {
      const rows: Row[] = states.map((s) => ({
        name: s.node,
        status: s.settled ? "Ready" : "Reconciling",
        parent: s.parent ?? "-",
        tags: s.tags.join(",") || "-",
        containers: s.containers.length,
        generation: s.generation,
      }));
      for (const [name, why] of missing)
        rows.push({
          name,
          status: `Unreachable (${why})`,
          parent: "?",
          tags: "?",
          containers: "?",
          generation: "?",
        });
      return rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    }
    const declaredEdges = declared.flatMap((server) =>
      server.childs.map((child) => ({ parent: server.name, child })),
    );
    const rows: Row[] = states
      .filter((s) => s.parent !== undefined)
      .map((s) => {
        const wanted = declaredEdges.find((e) => e.child === s.node);
        return {
          parent: s.parent ?? "-",
          child: s.node,
          status:
            !wanted || wanted.parent === s.parent
              ? "Connected"
              : `Connected (declared under ${wanted.parent})`,
        };
      });
    for (const edge of declaredEdges) {
      if (!states.some((s) => s.node === edge.child))
        rows.push({ parent: edge.parent, child: edge.child, status: "Pending (child not running)" });
    }
    for (const state of states) {
      for (const child of state.children) {
        if (
          child.status === "down" &&
          !states.some((s) => s.node === child.node) &&
          !rows.some((r) => r.child === child.node)
        ) {
          rows.push({
            parent: state.node,
            child: child.node,
            status: `Down since ${child.since} (${child.reason ?? "unknown"})`,
          });
        }
      }
    }
    return rows.sort((a, b) => String(a.child).localeCompare(String(b.child)));
  } finally {
    await fleet.close();
  }
}

/** Nodes that should have answered and did not: declared in the manifests, or reported down by their parent. */
function missingNodes(states: readonly NodeState[], declared: readonly string[]): Map<string, string> {
  const answered = new Set(states.map((s) => s.node));
  const missing = new Map<string, string>();
  for (const name of declared) if (!answered.has(name)) missing.set(name, "did not answer");
  for (const state of states) {
    for (const child of state.children) {
      if (child.status === "down" && !answered.has(child.node)) {
        missing.set(child.node, `down since ${child.since}: ${child.reason ?? "link lost"}`);
      }
    }
  }
  return missing;
}

function containerRows(containers: readonly ObservedContainer[]): Row[] {
  return [...containers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({
      name: c.name,
      resource: c.resource,
      node: c.node,
      replica: c.replica,
      image: c.image,
      state: c.state,
      health: c.health ?? "",
      id: c.id.slice(0, 12),
      created: c.createdAt,
    }));
}

async function render(rows: Row[], format: GetOptions["output"]): Promise<string> {
  if (format === "json") return `${JSON.stringify(rows, null, 2)}\n`;
  // yaml is loaded only when asked for; the table and JSON need none of it.
  if (format === "yaml") return (await import("yaml")).stringify(rows);
  const columns = Object.keys(rows[0] ?? { name: "" }).filter((c) => c !== "created" && c !== "replica");
  return table(
    columns.map((c) => c.toUpperCase()),
    rows.map((row) => columns.map((c) => String(row[c] ?? "") || "-")),
  );
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("   ")
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join("\n")}\n`;
}
