// The Docker engine's event stream for one node's owned containers (GET /events, filtered by the
// engine), as EngineEvents. A broken or ended stream is reported once; the caller relists and re-watches.
import { LABELS, LEGACY_STACK } from "../model/labels.js";
import { DEFAULT_ENGINE_TIMEOUTS } from "./deadline.js";
import { engineTimedOut } from "./docker-errors.js";
import { type DockerConnection, type DockerEngineOptions, resolveConnection } from "./docker-mapping.js";
import type { EngineEvent, EngineEventSource } from "./engine.js";
import { EngineHttpClient } from "./engine-http.js";

type RawEvent = {
  Action?: string;
  id?: string;
  timeNano?: number;
  Actor?: { Attributes?: Record<string, string> };
};

export class DockerEventSource implements EngineEventSource {
  readonly #connection: DockerConnection;
  readonly #client: EngineHttpClient;
  /** The deadline for the engine to start answering; a stream once open may stay quiet for hours. */
  readonly #connectMs: number;

  constructor(options: DockerEngineOptions = {}) {
    this.#connection = resolveConnection(options);
    this.#client = new EngineHttpClient(this.#connection, process.env.DOCKER_CERT_PATH);
    this.#connectMs = options.timeouts?.requestMs ?? DEFAULT_ENGINE_TIMEOUTS.requestMs;
  }

  watchEvents(
    node: string,
    onEvent: (event: EngineEvent) => void,
    onEnd: (error?: unknown) => void,
  ): () => void {
    const filters = JSON.stringify({
      type: ["container"],
      label: [`${LABELS.managed}=true`, `${LABELS.node}=${node}`],
    });
    return this.#client.stream(
      `/events?filters=${encodeURIComponent(filters)}`,
      (line) => {
        const event = toEngineEvent(line);
        if (event) onEvent(event);
      },
      onEnd,
      {
        timeoutMs: this.#connectMs,
        timedOut: () =>
          engineTimedOut(this.#connection, `open the event stream of node "${node}"`, this.#connectMs),
      },
    );
  }
}

/** One line of the /events stream; undefined for what the informer never needs (exec_*, unreadable lines). */
export function toEngineEvent(line: string): EngineEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const action = raw.Action ?? "";
  // exec_* and health probes run constantly and change nothing the planner looks at, except health.
  if (!raw.id || action.startsWith("exec_")) return undefined;
  const attributes = raw.Actor?.Attributes ?? {};
  return {
    containerId: raw.id,
    stack: attributes[LABELS.stack] ?? LEGACY_STACK,
    resource: attributes[LABELS.resource] ?? "",
    action,
    time: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : Date.now(),
  };
}
