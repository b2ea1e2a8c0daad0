// Rows as an aligned table (narrow or wide), names only, JSON or YAML.

/** One row of `get`: a column name → its value, typed for JSON and YAML. */
export type Row = Record<string, unknown>;

export const ROW_FORMATS = ["table", "wide", "name", "json", "yaml"] as const;
export type RowFormat = (typeof ROW_FORMATS)[number];

/**
 * How one set of rows reads: which columns only the wide table shows, each row's `kind/name`, and
 * how a column whose value is structured for -o json|yaml reads in a table cell.
 */
export type RowShape = {
  wide: readonly string[];
  nameOf: (row: Row) => string;
  show?: Readonly<Record<string, (value: unknown) => string>>;
};

/** Never a column: the replica number is in the name already. */
const NEVER_SHOWN = new Set(["replica"]);

/** Rows with no wide-only columns, named by their `name` (or `node`). */
const PLAIN: RowShape = { wide: [], nameOf: (row) => String(row.name ?? row.node ?? "") };

export async function render(rows: Row[], format: RowFormat, shape: RowShape = PLAIN): Promise<string> {
  if (format === "json") return `${JSON.stringify(rows, null, 2)}\n`;
  // yaml is loaded only when asked for; the table and JSON need none of it.
  if (format === "yaml") return (await import("yaml")).stringify(rows);
  if (format === "name") return rows.map((row) => `${shape.nameOf(row)}\n`).join("");
  const columns = tableColumns(rows, format, shape);
  return table(
    columns.map(header),
    rows.map((row) => tableCells(row, columns, shape)),
  );
}

/** The columns a table of these rows prints: the wide ones only with -o wide. */
export function tableColumns(rows: readonly Row[], format: RowFormat, shape: RowShape): string[] {
  const hidden = new Set([...NEVER_SHOWN, ...(format === "wide" ? [] : shape.wide)]);
  return Object.keys(rows[0] ?? { name: "" }).filter((c) => !hidden.has(c));
}

export function tableCells(row: Row, columns: readonly string[], shape?: RowShape): string[] {
  return columns.map((c) => {
    const show = shape?.show?.[c];
    return (show ? show(row[c]) : cell(row[c])) || "-";
  });
}

/** A table's header and rows with the same column widths, so rows printed later line up with it. */
export function columnWidths(headers: readonly string[], rows: readonly string[][]): number[] {
  return headers.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
}

export function tableLine(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((cell, i) => cell.padEnd(widths[i] ?? 0))
    .join("   ")
    .trimEnd();
}

/** `imageId` → IMAGE-ID, as kubectl spells its multi-word headers (NOMINATED-NODE). */
export function header(column: string): string {
  return column.replace(/([a-z])([A-Z])/g, "$1-$2").toUpperCase();
}

/**
 * A nested value on one line: a list's items by commas; labels (an object of strings) as key=value;
 * any other object's known values by spaces.
 */
function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(cell).join(", ");
  if (typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.every(([, v]) => typeof v === "string"))
      return entries.map(([k, v]) => `${k}=${v as string}`).join(",");
    return entries
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([, v]) => cell(v))
      .join(" ");
  }
  return String(value);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = columnWidths(headers, rows);
  return `${[headers, ...rows].map((cells) => tableLine(cells, widths)).join("\n")}\n`;
}
