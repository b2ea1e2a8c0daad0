// `treescale logs` on one node: each `agent.logs` request starts a stream that reads what the
// resource's objects on this node wrote (through their kind's runtime) and publishes the lines in
// batches to the requester's channel, ending with a batch that says `end`. A followed stream lives
// as long as its requester keeps it (agent.logs.keep), so one that went away costs nothing for long.
import type { Target } from "../bus/protocol/frames.js";
import { errorMessage } from "../errors.js";
import { AGENT_EVENTS, type LogsAnswer, type LogsAsk, type LogsData, logsChannel } from "../model/wire.js";
import type { LogRequest, ObjectLogLine, ObservedObject } from "../reconcile/controller.js";

/** One object whose output can be read, and how. */
export type LogSource = {
  object: ObservedObject;
  read(request: LogRequest, onLine: (line: ObjectLogLine) => void, signal: AbortSignal): Promise<void>;
};

export type LogStreamsOptions = {
  node: string;
  /** The objects of `kind/resource` on this node (of one stack, or all), or undefined for a kind without logs. */
  sources(kind: string, resource: string, stack: string | undefined): LogSource[] | undefined;
  publish(event: string, payload: string, target: Target): void;
};

/** Streams at once per node: each holds an engine connection per replica while it follows. */
const MAX_STREAMS = 32;
/** A batch leaves when this many bytes of lines are waiting, or after FLUSH_MS. */
const BATCH_BYTES = 64 * 1024;
const FLUSH_MS = 50;
const STREAM_ID = /^[A-Za-z0-9-]{8,64}$/;
const LEASE_MS = { min: 1000, max: 60_000 };

type Stream = { abort: AbortController; lease: ReturnType<typeof setTimeout> | undefined; leaseMs: number };

export class LogStreams {
  readonly #options: LogStreamsOptions;
  readonly #streams = new Map<string, Stream>();

  constructor(options: LogStreamsOptions) {
    this.#options = options;
  }

  /** Starts the stream asked for and says which replicas it reads; a bad request is refused with why. */
  start(body: unknown): LogsAnswer {
    const ask = parseAsk(body);
    if (this.#streams.has(ask.stream)) throw new Error(`log stream ${ask.stream} is already running`);
    if (this.#streams.size >= MAX_STREAMS)
      throw new Error(
        `node ${this.#options.node} already serves ${MAX_STREAMS} log streams; try again later`,
      );
    const sources = this.#options.sources(ask.kind, ask.resource, ask.stack);
    if (sources === undefined) throw new Error(`${ask.kind} objects write no logs`);
    const name = (o: ObservedObject) => `${o.resource}-${o.replica}`;
    const stream: Stream = { abort: new AbortController(), lease: undefined, leaseMs: ask.leaseMs };
    this.#streams.set(ask.stream, stream);
    if (ask.follow) this.#renew(stream);
    void this.#run(ask, sources, stream, name);
    return {
      node: this.#options.node,
      replicas: sources.map(({ object }) => ({
        name: name(object),
        stack: object.stack,
        replica: object.replica,
      })),
    };
  }

  /** The requester still reads (or, with `stop`, no longer does). */
  keep(body: unknown): { alive: boolean } {
    const { stream: id, stop } = (body ?? {}) as { stream?: unknown; stop?: unknown };
    const stream = typeof id === "string" ? this.#streams.get(id) : undefined;
    if (!stream) return { alive: false };
    if (stop === true) stream.abort.abort();
    else this.#renew(stream);
    return { alive: stop !== true };
  }

  stopAll(): void {
    for (const stream of this.#streams.values()) stream.abort.abort();
  }

  #renew(stream: Stream): void {
    if (stream.lease !== undefined) clearTimeout(stream.lease);
    stream.lease = setTimeout(() => stream.abort.abort(), stream.leaseMs);
    stream.lease.unref?.();
  }

  async #run(
    ask: LogsAsk,
    sources: LogSource[],
    stream: Stream,
    name: (o: ObservedObject) => string,
  ): Promise<void> {
    const target: Target = { channel: logsChannel(ask.stream) };
    let lines: LogsData["lines"] = [];
    let bytes = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = (last?: Pick<LogsData, "errors">) => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (lines.length === 0 && !last) return;
      const data: LogsData = {
        node: this.#options.node,
        stream: ask.stream,
        lines,
        ...(last ? { end: true as const, errors: last.errors ?? [] } : {}),
      };
      lines = [];
      bytes = 0;
      this.#options.publish(AGENT_EVENTS.logsData, JSON.stringify(data), target);
    };
    const request: LogRequest = {
      follow: ask.follow,
      timestamps: ask.timestamps,
      ...(ask.tail !== undefined ? { tail: ask.tail } : {}),
      ...(ask.since !== undefined ? { since: ask.since } : {}),
    };
    const errors: { replica: string; message: string }[] = [];
    await Promise.all(
      sources.map(async ({ object, read }) => {
        try {
          await read(
            request,
            (line) => {
              lines.push({ replica: name(object), stream: line.stream, text: line.text });
              bytes += line.text.length + 32;
              if (bytes >= BATCH_BYTES) send();
              else timer ??= setTimeout(() => send(), FLUSH_MS);
            },
            stream.abort.signal,
          );
        } catch (error) {
          if (!stream.abort.signal.aborted)
            errors.push({ replica: name(object), message: errorMessage(error) });
        }
      }),
    );
    if (stream.lease !== undefined) clearTimeout(stream.lease);
    this.#streams.delete(ask.stream);
    send({ errors });
  }
}

function parseAsk(body: unknown): LogsAsk {
  const ask = (body ?? {}) as Partial<Record<keyof LogsAsk, unknown>>;
  const problems: string[] = [];
  if (typeof ask.stream !== "string" || !STREAM_ID.test(ask.stream))
    problems.push("stream: 8 to 64 letters, digits or dashes");
  if (typeof ask.kind !== "string" || ask.kind === "") problems.push("kind: a kind's name");
  if (typeof ask.resource !== "string" || ask.resource === "") problems.push("resource: a resource's name");
  if (ask.stack !== undefined && typeof ask.stack !== "string") problems.push("stack: a stack's name");
  if (typeof ask.follow !== "boolean") problems.push("follow: true or false");
  if (typeof ask.timestamps !== "boolean") problems.push("timestamps: true or false");
  if (ask.tail !== undefined && !(Number.isInteger(ask.tail) && (ask.tail as number) >= 0))
    problems.push("tail: a whole number");
  if (ask.since !== undefined && !(typeof ask.since === "number" && ask.since >= 0))
    problems.push("since: Unix seconds");
  if (typeof ask.leaseMs !== "number" || !(ask.leaseMs >= LEASE_MS.min && ask.leaseMs <= LEASE_MS.max))
    problems.push(`leaseMs: ${LEASE_MS.min} to ${LEASE_MS.max}`);
  if (problems.length > 0) throw new Error(`bad ${AGENT_EVENTS.logs} request: ${problems.join("; ")}`);
  return ask as LogsAsk;
}
