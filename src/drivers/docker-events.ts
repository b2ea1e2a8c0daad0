// The Docker engine's event stream for one node's owned containers (GET /events, filtered by the
// engine), as EngineEvents. A broken or ended stream is reported once; the caller relists and re-watches.
import { LABELS, LEGACY_STACK } from "../model/labels.js";
import { type DockerConnectionOptions, resolveConnection } from "./docker-mapping.js";
import type { EngineEvent, EngineEventSource } from "./engine.js";
import { EngineHttpClient } from "./engine-http.js";

type RawEvent = {
  Action?: string;
  id?: string;
  timeNano?: number;
  Actor?: { Attributes?: Record<string, string> };
};

export class DockerEventSource implements EngineEventSource {
  readonly #client: EngineHttpClient;

  constructor(options: DockerConnectionOptions = {}) {
    this.#client = new EngineHttpClient(resolveConnection(options), process.env.DOCKER_CERT_PATH);
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
