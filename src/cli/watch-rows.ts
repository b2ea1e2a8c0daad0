// `get -w`: after the first table, look again whenever the tree announces a change and print only
// the rows that changed (or went), lined up under the first table, as `kubectl get -w` does.
import type { Message } from "../bus/message.js";
import type { Row } from "./get-rows.js";
import {
  columnWidths,
  header,
  type RowFormat,
  type RowShape,
  tableCells,
  tableColumns,
  tableLine,
} from "./row-output.js";

export type RowWatchOptions = {
  first: Row[];
  shape: RowShape;
  format: RowFormat;
  look(): Promise<Row[]>;
  write(text: string): void;
  listen(handler: (message: Message) => void): Promise<() => void>;
  /** Quiet time after an event before looking: a rollout's burst of events is one look. */
  settleMs?: number;
};

/** Rows keyed by what they show (`kind/name` and the node), so a replica moving node is two rows. */
const keyOf = (shape: RowShape, row: Row) => `${shape.nameOf(row)}@${String(row.node ?? "")}`;

export async function watchRows(options: RowWatchOptions): Promise<{ stop(): void }> {
  const { shape, format } = options;
  const columns = tableColumns(options.first, format, shape);
  const widths = columnWidths(
    columns.map(header),
    options.first.map((row) => tableCells(row, columns, shape)),
  );
  const shown = new Map(options.first.map((row) => [keyOf(shape, row), JSON.stringify(row)]));
  const print = (row: Row) =>
    options.write(
      format === "name"
        ? `${shape.nameOf(row)}\n`
        : `${tableLine(tableCells(row, columns, shape), widths)}\n`,
    );
  let timer: ReturnType<typeof setTimeout> | undefined;
  let looking: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const lookOnce = async () => {
    const rows = await options.look();
    if (stopped) return;
    const seen = new Set<string>();
    for (const row of rows) {
      const key = keyOf(shape, row);
      seen.add(key);
      const text = JSON.stringify(row);
      if (shown.get(key) === text) continue;
      shown.set(key, text);
      print(row);
    }
    for (const [key, text] of shown) {
      if (seen.has(key)) continue;
      shown.delete(key);
      print(gone(JSON.parse(text) as Row));
    }
  };
  const schedule = () => {
    if (stopped) return;
    if (looking) {
      again = true;
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(() => {
      looking = lookOnce()
        .catch((error: unknown) => options.write(`# cannot look again: ${(error as Error).message}\n`))
        .finally(() => {
          looking = undefined;
          if (again) {
            again = false;
            schedule();
          }
        });
    }, options.settleMs ?? 250);
  };
  const unlisten = await options.listen(schedule);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      unlisten();
    },
  };
}

/** A row that is no longer there, printed once more with its state saying so. */
function gone(row: Row): Row {
  if ("state" in row) return { ...row, state: "gone" };
  if ("status" in row) return { ...row, status: "Gone" };
  if ("condition" in row) return { ...row, condition: "Gone" };
  return row;
}
