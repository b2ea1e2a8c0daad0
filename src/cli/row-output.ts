// Rows as an aligned table, JSON or YAML.
import type { Row } from "./get-rows.js";

export type RowFormat = "table" | "json" | "yaml";

export async function render(rows: Row[], format: RowFormat): Promise<string> {
  if (format === "json") return `${JSON.stringify(rows, null, 2)}\n`;
  // yaml is loaded only when asked for; the table and JSON need none of it.
  if (format === "yaml") return (await import("yaml")).stringify(rows);
  const columns = Object.keys(rows[0] ?? { name: "" }).filter((c) => c !== "created" && c !== "replica");
  return table(
    columns.map((c) => c.toUpperCase()),
    rows.map((row) => columns.map((c) => cell(row[c]) || "-")),
  );
}

/** A nested value on one line: a list's items by commas, an object's known values by spaces. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(cell).join(", ");
  if (typeof value === "object")
    return Object.values(value)
      .filter((v) => v !== null && v !== undefined)
      .map(cell)
      .join(" ");
  return String(value);
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
