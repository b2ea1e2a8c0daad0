// `treescale top`: every container's CPU, memory, network and block I/O across the tree, from the
// nodes' container.stats, like `docker stats` for the whole tree. On a terminal it redraws every
// second until q; otherwise (or with --no-stream) it prints one snapshot and exits.
import { type Command, Option } from "commander";
import type { BusClient, Message } from "../bus/client/index.js";
import { TreescaleError } from "../errors.js";
import { CONTAINER_STATS_EVENT, type ContainerStatsPayload } from "../model/usage.js";
import { type ConnectionFlags, connectClient, endpointSettings, treeEndpoint } from "./bus-connection.js";
import type { Kinds } from "./kinds.js";
import { addNodeNameOption, checkNodeName, outputOption } from "./shared-options.js";
import { jsonSnapshot, type Received, renderTable, SORT_KEYS, type SortKey } from "./top-view.js";

type TopFlags = ConnectionFlags & {
  name: string;
  sort: SortKey;
  output: "table" | "json";
  stream: boolean;
};

/** A snapshot without a terminal waits this long at most for every node's figures. */
const SNAPSHOT_WAIT_MS = 8000;
/** …and at least this long, so nodes further down the tree are heard too. */
const SNAPSHOT_MIN_WAIT_MS = 2500;
const KEYS: Record<string, SortKey> = { c: "cpu", m: "mem", n: "name", t: "net", i: "io" };

export function registerTop(program: Command, kinds: Kinds): void {
  const command = program
    .command("top")
    .description("live CPU, memory, network and block I/O of every container in the tree, like docker stats")
    .option(
      "--node <host:port|url>",
      "node to connect to (default $TREESCALE_NODE; none: the context, else the embedded node)",
    )
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .addOption(outputOption(["table", "json"] as const, "table"))
    .addOption(
      new Option("--sort <key>", "order of the rows (figures biggest first, unknown last)")
        .choices(SORT_KEYS)
        .default("cpu"),
    )
    .option("--no-stream", "print one snapshot and exit (the default when stdout is not a terminal)");
  addNodeNameOption(command);
  command.addHelpText(
    "after",
    `
Figures come from each node's engine (docker stats) and are sampled only while someone watches.
On a terminal the view refreshes every second; keys: c cpu, m mem, n name, t net, i io sort; q or Ctrl-C quits.
A node whose engine cannot be seen, or that stopped answering, is listed as unreachable.

Examples:
  treescale top                              the tree of the current context, else the embedded node
  treescale top --node tcp://10.0.0.1:7000 --sort mem
  treescale top --no-stream -o json          one snapshot of every container as JSON`,
  );
  command.action(async (flags: TopFlags) => {
    const { client, close } = await connectForTop(flags, kinds);
    const received = new Map<string, { payload: ContainerStatsPayload; receivedAt: number }>();
    client.onMessage((message: Message) => {
      const payload = parsePayload(message);
      if (payload) received.set(payload.node, { payload, receivedAt: Date.now() });
    });
    try {
      const live = flags.stream && process.stdout.isTTY === true;
      if (!live) await printSnapshot(received, flags, client);
      else if (flags.output === "json") await streamJson(received, flags, client);
      else await runScreen(received, flags, client);
    } finally {
      await close();
    }
  });
}

/** A payload as the contract has it; anything else (a client publishing under the name) is skipped. */
function parsePayload(message: Message): ContainerStatsPayload | undefined {
  try {
    const payload = message.json<ContainerStatsPayload>();
    if (typeof payload?.node !== "string" || !Array.isArray(payload.containers)) return undefined;
    return payload;
  } catch {
    return undefined;
  }
}

/** --node / $TREESCALE_NODE, else the current context's root, else the embedded node (joined or run here, read-only). */
async function connectForTop(
  flags: TopFlags,
  kinds: Kinds,
): Promise<{ client: BusClient; close: () => Promise<void> }> {
  const settings = { events: [CONTAINER_STATS_EVENT] };
  const tree = await treeEndpoint(flags);
  if (tree) {
    const client = await connectClient(tree, settings);
    return { client, close: () => client.close() };
  }
  const { deadlineMs } = endpointSettings(flags);
  const { openEmbeddedNode } = await import("./fleet-connection.js");
  // Looking changes nothing: an embedded node started for top only observes.
  const embedded = await openEmbeddedNode(checkNodeName(flags.name), { heal: true, readOnly: true, kinds });
  try {
    const client = await connectClient(
      { url: embedded.url, token: embedded.token, caFile: undefined, deadlineMs },
      settings,
    );
    return {
      client,
      close: async () => {
        await client.close();
        await embedded.close();
      },
    };
  } catch (error) {
    await embedded.close();
    throw error;
  }
}

/** Whether every node heard from has sent figures with CPU known for each container that has memory (runs). */
function complete(received: Received): boolean {
  if (received.size === 0) return false;
  for (const { payload } of received.values()) {
    if (payload.error !== undefined) return false;
    if (payload.containers.some((row) => row.memoryBytes !== null && row.cpuPercent === null)) return false;
  }
  return true;
}

async function printSnapshot(received: Received, flags: TopFlags, client: BusClient): Promise<void> {
  const started = Date.now();
  for (;;) {
    const waited = Date.now() - started;
    if (waited >= SNAPSHOT_WAIT_MS || (waited >= SNAPSHOT_MIN_WAIT_MS && complete(received))) break;
    const closed = await Promise.race([client.closed, sleep(100).then(() => "waiting" as const)]);
    if (closed !== "waiting")
      throw new TreescaleError("BUS", `the connection to ${client.node} ended before any figures came`);
  }
  if (received.size === 0)
    throw new TreescaleError(
      "NO_STATS",
      `no node sent container.stats within ${SNAPSHOT_WAIT_MS / 1000} s through ${client.node}: ` +
        "nodes without an agent have no containers to report; check that the nodes run with their agent",
    );
  const now = Date.now();
  process.stdout.write(
    flags.output === "json"
      ? `${JSON.stringify(jsonSnapshot(received, now, flags.sort), null, 2)}\n`
      : `${renderTable(received, now, flags.sort).join("\n")}\n`,
  );
}

async function streamJson(received: Received, flags: TopFlags, client: BusClient): Promise<void> {
  const timer = setInterval(() => {
    if (received.size > 0)
      process.stdout.write(`${JSON.stringify(jsonSnapshot(received, Date.now(), flags.sort))}\n`);
  }, 1000);
  const stop = () => void client.close();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await client.closed;
  } finally {
    clearInterval(timer);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

const ESC = "\x1b[";
const ENTER_SCREEN = `${ESC}?1049h${ESC}?25l`;
const LEAVE_SCREEN = `${ESC}?25h${ESC}?1049l`;

/** The full-screen view: redrawn in place every second and on each key, the terminal restored on exit. */
async function runScreen(received: Received, flags: TopFlags, client: BusClient): Promise<void> {
  const { stdin, stdout } = process;
  let sort = flags.sort;
  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
  });
  const draw = () => {
    const rows = stdout.rows ?? 24;
    const columns = stdout.columns ?? 80;
    const heard = received.size;
    const title =
      heard === 0
        ? `treescale top: waiting for figures through ${client.node}…`
        : `treescale top: ${heard} node${heard === 1 ? "" : "s"} through ${client.node}, sorted by ${sort}`;
    const footer = "c cpu  m mem  n name  t net  i io  q quit";
    const body = heard === 0 ? [] : renderTable(received, Date.now(), sort);
    const lines = [title, "", ...body].slice(0, Math.max(1, rows - 2));
    const screen = [...lines, ...Array(Math.max(0, rows - 1 - lines.length)).fill(""), footer]
      .map((line) => line.slice(0, columns))
      .join(`${ESC}K\n`);
    stdout.write(`${ESC}H${screen}${ESC}K${ESC}J`);
  };
  const onKey = (data: Buffer) => {
    const key = data.toString("utf8");
    if (key === "q" || key === "Q" || key.includes("\x03") || key.includes("\x04")) {
      quit();
      return;
    }
    const chosen = KEYS[key.toLowerCase()];
    if (chosen) {
      sort = chosen;
      draw();
    }
  };
  const restore = () => {
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.off("data", onKey);
    stdin.pause();
    stdout.write(LEAVE_SCREEN);
  };
  // Restored even when the process ends some other way, so a shell is never left without its cursor.
  process.once("exit", restore);
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  stdout.write(ENTER_SCREEN);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on("data", onKey);
  stdin.resume();
  stdout.on("resize", draw);
  draw();
  const timer = setInterval(draw, 1000);
  try {
    const ended = await Promise.race([quitting.then(() => undefined), client.closed]);
    if (ended)
      throw new TreescaleError("BUS", `connection to ${client.node} ended: ${ended.code}: ${ended.message}`);
  } finally {
    clearInterval(timer);
    stdout.off("resize", draw);
    process.off("exit", restore);
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
    restore();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
