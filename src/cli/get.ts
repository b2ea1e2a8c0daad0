// `treescale get containers`: what the engine runs for TreeScale, as a table, JSON or YAML.
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { ObservedContainer } from "../model/observed.js";
import { addNodeNameOption, openLocalNode, outputOption } from "./shared-options.js";

type GetOptions = { output: "table" | "json" | "yaml"; name: string };

export function registerGet(program: Command): void {
  const command = program
    .command("get")
    .description("list observed resources")
    .argument("<kind>", "what to list: containers");
  addNodeNameOption(command)
    .addOption(outputOption(["table", "json", "yaml"] as const, "table"))
    .action(async (kind: string, options: GetOptions) => {
      if (kind !== "containers" && kind !== "container") {
        throw new UsageError(`unknown kind "${kind}": choose containers`);
      }
      const node = openLocalNode(options.name);
      const containers = (await node.engine.listOwned(node.name)).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      process.stdout.write(await render(containers, options.output));
    });
}

async function render(containers: ObservedContainer[], format: GetOptions["output"]): Promise<string> {
  const rows = containers.map((c) => ({
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
  if (format === "json") return `${JSON.stringify(rows, null, 2)}\n`;
  // yaml is loaded only when asked for; the table and JSON need none of it.
  if (format === "yaml") return (await import("yaml")).stringify(rows);
  return table(
    ["NAME", "RESOURCE", "NODE", "IMAGE", "STATE", "HEALTH", "ID"],
    rows.map((r) => [r.name, r.resource, r.node, r.image, r.state, r.health || "-", r.id]),
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
