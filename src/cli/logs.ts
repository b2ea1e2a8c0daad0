// `treescale logs RESOURCE`: what a resource's replicas wrote, from whichever nodes run them. The
// tree (or the embedded node) is asked who runs it; each of those nodes is asked over the bus to
// stream the lines to a channel of this command's own; lines print as they come, prefixed like
// compose. A resource nobody runs, or a node that cannot be asked, is said as such (exit 1).
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { RequestHandlerError } from "../bus/client/errors.js";
import type { Message } from "../bus/message.js";
import { EXIT, TreescaleError, UsageError } from "../errors.js";
import type { FleetBus } from "../fleet/fleet-bus.js";
import {
  AGENT_EVENTS,
  blindKinds,
  type LogsAnswer,
  type LogsAsk,
  type LogsData,
  logsChannel,
  type NodeState,
} from "../model/wire.js";
import type { ObservedObject } from "../reconcile/controller.js";
import { Registry } from "../reconcile/registry.js";
import { naturalCompare } from "../util/natural-order.js";
import type { ConnectionFlags } from "./bus-connection.js";
import { wholeNumber } from "./flag-values.js";
import type { Kinds } from "./kinds.js";
import { parseSince, prefixer } from "./log-output.js";
import { addNodeNameOption, addStackOption } from "./shared-options.js";
import { nextStopSignal } from "./stop-signal.js";

type LogsFlags = ConnectionFlags & {
  name: string;
  follow: boolean;
  tail?: number;
  since?: string;
  timestamps: boolean;
  stack?: string;
  wait: number;
  color: boolean;
};

/** A followed stream is kept every LEASE_MS / 3; a node stops it when not kept for LEASE_MS. */
const LEASE_MS = 15_000;
/** Without -f, a node that sends nothing (not even its end) for this long has stopped answering. */
const SILENCE_MS = 10_000;

export function registerLogs(program: Command, kinds: Kinds): void {
  const command = program
    .command("logs")
    .description("print what a resource's replicas wrote, from whichever nodes run them (as compose logs)")
    .argument("<resource>", "NAME or KIND/NAME of a resource (a container by default)");
  addStackOption(addNodeNameOption(command))
    .option("-f, --follow", "keep printing new lines until Ctrl-C", false)
    .option("--tail <n>", "only the last N lines of each replica", wholeNumber("--tail", 0))
    .option("--since <time>", "only lines since a duration ago (90s, 10m, 2h) or an RFC 3339 time")
    .option("-t, --timestamps", "prefix each line with the time the engine recorded", false)
    .option("--no-color", "no colors, even on a terminal")
    .option("--node <host:port|url>", "read through this node of the tree (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--wait <ms>", "how long to ask the tree who runs the resource", wholeNumber("--wait", 1), 2000)
    .action((resource: string, flags: LogsFlags) => runLogs(resource, flags, kinds));
}

async function runLogs(resource: string, flags: LogsFlags, kinds: Kinds): Promise<void> {
  const registry = new Registry(kinds());
  const [noun, name] = resource.includes("/") ? resource.split("/", 2) : ["container", resource];
  const kind = registry.byNoun(noun!)?.kind;
  if (!kind || !name) throw new UsageError(`logs: "${resource}" is not NAME or KIND/NAME (container/web)`);
  const since = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
  // Listen for Ctrl-C before anything: an interrupt while connecting must stop at once too.
  const interrupted = nextStopSignal().then(() => "interrupted" as const);
  const [{ openFleet }, { gatherStates, gatherUntil }] = await Promise.all([
    import("./fleet-connection.js"),
    import("../fleet/fleet-apply.js"),
  ]);
  const fleet = await openFleet({ ...flags, readOnly: true }, kinds);
  try {
    const states = fleet.embedded
      ? await gatherUntil(fleet.bus, flags.wait, [fleet.embedded], (found) =>
          found.every((s) => Object.values(s.observed).every((o) => o.synced || o.error !== undefined)),
        )
      : await gatherStates(fleet.bus, flags.wait);
    const where = locate(states, kind, name, flags.stack);
    for (const [node, why] of where.unreachable)
      process.stderr.write(
        `warning: cannot read logs on node ${node} (${why}): its replicas are not shown\n`,
      );
    const stream = randomBytes(8).toString("hex");
    const reader = new LogReader(fleet.bus, stream, [...where.holders.values()].flat(), flags.color);
    await reader.open();
    const ask: LogsAsk = {
      stream,
      kind,
      resource: name,
      ...(where.stack !== undefined ? { stack: where.stack } : {}),
      follow: flags.follow,
      timestamps: flags.timestamps,
      ...(flags.tail !== undefined ? { tail: flags.tail } : {}),
      ...(since !== undefined ? { since } : {}),
      leaseMs: LEASE_MS,
    };
    const result = await Promise.race([reader.read([...where.holders.keys()], ask), interrupted]);
    if (result === "interrupted") {
      await reader.stop();
      process.exitCode = 130;
      return;
    }
    process.exitCode = result && where.unreachable.size === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await fleet.close();
  }
}

/**
 * The nodes that run the resource's objects (with their replica names) and the nodes that could not
 * be asked. Fails when nothing runs it, naming the nodes that answered and those that could not.
 */
function locate(
  states: readonly NodeState[],
  kind: string,
  name: string,
  stack: string | undefined,
): { holders: Map<string, string[]>; unreachable: Map<string, string>; stack: string | undefined } {
  const unreachable = new Map<string, string>();
  const answered = new Set(states.map((s) => s.node));
  for (const state of states) {
    for (const child of state.children)
      if (child.status === "down" && !answered.has(child.node))
        unreachable.set(child.node, `down since ${child.since}: ${child.reason ?? "link lost"}`);
    const blind = blindKinds({ [kind]: state.observed[kind] ?? { synced: true, items: [] } });
    if (blind.length > 0) unreachable.set(state.node, `cannot see its objects: ${blind.join("; ")}`);
  }
  const found = states.flatMap((s) =>
    ((s.observed[kind]?.items ?? []) as ObservedObject[])
      .filter((o) => o.resource === name && (stack === undefined || o.stack === stack))
      .map((o) => ({ node: s.node, object: o })),
  );
  const stacks = [...new Set(found.map((f) => f.object.stack))].sort();
  if (stack === undefined && stacks.length > 1)
    throw new UsageError(`${kind}/${name} runs in stacks ${stacks.join(", ")}: choose one with --stack`);
  if (found.length === 0) {
    const asked = [...answered].sort(naturalCompare).join(", ") || "none";
    const missing = [...unreachable.keys()];
    throw new TreescaleError(
      "NOT_FOUND",
      `no ${kind} "${name}"${stack !== undefined ? ` in stack ${stack}` : ""} runs on the nodes that answered (${asked})` +
        (missing.length > 0
          ? `; not asked: ${missing.map((n) => `${n} (${unreachable.get(n)})`).join(", ")}`
          : "") +
        `; treescale get ${kind}s -A lists what runs`,
    );
  }
  const holders = new Map<string, string[]>();
  for (const { node, object } of found)
    holders.set(node, [...(holders.get(node) ?? []), `${object.resource}-${object.replica}`]);
  return { holders, unreachable, stack: stack ?? stacks[0] };
}

/** One `logs` run's stream: its channel, the lines as they come, and the end each node sends. */
class LogReader {
  readonly #bus: FleetBus;
  readonly #stream: string;
  readonly #prefix: (replica: string) => string;
  readonly #ended = new Set<string>();
  #nodes: string[] = [];
  #failed = false;
  #unlisten: (() => void) | undefined;
  #heard: () => void = () => undefined;
  #keeping: ReturnType<typeof setInterval> | undefined;

  constructor(bus: FleetBus, stream: string, replicas: string[], color: boolean) {
    this.#bus = bus;
    this.#stream = stream;
    this.#prefix = prefixer(replicas, color && process.stdout.isTTY === true);
  }

  async open(): Promise<void> {
    this.#unlisten = await this.#bus.listen([AGENT_EVENTS.logsData], (message) => this.#take(message), [
      logsChannel(this.#stream),
    ]);
  }

  /** Resolves true when every node sent all its lines without an error. */
  async read(nodes: string[], ask: LogsAsk): Promise<boolean> {
    this.#nodes = nodes;
    const answers = await Promise.all(nodes.map((node) => this.#ask(node, ask)));
    const streaming = nodes.filter((_, i) => answers[i]);
    if (ask.follow) this.#keep(streaming);
    await new Promise<void>((resolve) => {
      let silence: ReturnType<typeof setTimeout> | undefined;
      const check = () => {
        if (streaming.every((node) => this.#ended.has(node))) {
          clearTimeout(silence);
          resolve();
          return;
        }
        if (ask.follow) return;
        clearTimeout(silence);
        silence = setTimeout(() => {
          for (const node of streaming.filter((n) => !this.#ended.has(n)))
            this.#fail(`node ${node} stopped sending its logs (nothing for ${SILENCE_MS / 1000} s)`);
          resolve();
        }, SILENCE_MS);
      };
      this.#heard = check;
      check();
    });
    this.#close();
    return !this.#failed;
  }

  /** Ctrl-C: tell the nodes to stop, without waiting long for them. */
  async stop(): Promise<void> {
    this.#close();
    const stops = this.#nodes.map((node) =>
      this.#bus
        .requestMany(
          AGENT_EVENTS.logsKeep,
          { node },
          JSON.stringify({ stream: this.#stream, stop: true }),
          500,
          1,
        )
        .catch(() => []),
    );
    await Promise.race([Promise.all(stops), new Promise((resolve) => setTimeout(resolve, 500))]);
  }

  async #ask(node: string, ask: LogsAsk): Promise<boolean> {
    try {
      const [reply] = await this.#bus.requestMany(AGENT_EVENTS.logs, { node }, JSON.stringify(ask), 5000, 1);
      if (!reply) {
        this.#fail(`node ${node} did not answer the request for its logs within 5 s`);
        return false;
      }
      reply.json<LogsAnswer>();
      return true;
    } catch (error) {
      const why = error instanceof RequestHandlerError ? error.handlerMessage : (error as Error).message;
      this.#fail(`cannot read logs on node ${node}: ${why}`);
      return false;
    }
  }

  #keep(nodes: string[]): void {
    this.#keeping = setInterval(() => {
      for (const node of nodes.filter((n) => !this.#ended.has(n))) {
        void this.#bus
          .requestMany(AGENT_EVENTS.logsKeep, { node }, JSON.stringify({ stream: this.#stream }), 4000, 1)
          .then(([reply]) => {
            if (reply?.json<{ alive: boolean }>().alive) return;
            if (this.#ended.has(node)) return;
            this.#fail(
              `node ${node} ${reply ? "ended the stream" : "no longer answers"}: its logs stop here`,
            );
            this.#ended.add(node);
            this.#heard();
          })
          .catch(() => undefined);
      }
    }, LEASE_MS / 3);
  }

  #take(message: Message): void {
    let data: LogsData;
    try {
      data = message.json<LogsData>();
    } catch {
      return;
    }
    if (data.stream !== this.#stream) return;
    let out = "";
    for (const line of data.lines) out += `${this.#prefix(line.replica)}${line.text}\n`;
    if (out) process.stdout.write(out);
    if (data.end) {
      for (const error of data.errors ?? [])
        this.#fail(`cannot read the logs of ${error.replica} on node ${data.node}: ${error.message}`);
      this.#ended.add(data.node);
    }
    this.#heard();
  }

  #fail(message: string): void {
    this.#failed = true;
    process.stderr.write(`error: ${message}\n`);
  }

  #close(): void {
    clearInterval(this.#keeping);
    this.#unlisten?.();
    this.#unlisten = undefined;
  }
}
