// The Docker engine's event stream for one node's owned containers (GET /events, filtered by the
// engine), as EngineEvents. A broken or ended stream is reported once; the caller relists and re-watches.
import { request } from "node:http";
import { request as requestTls } from "node:https";
import { LABELS } from "../model/labels.js";
import { type DockerConnection, type DockerConnectionOptions, resolveConnection } from "./docker-mapping.js";
import type { EngineEvent, EngineEventSource } from "./engine.js";

type RawEvent = {
  Type?: string;
  Action?: string;
  id?: string;
  timeNano?: number;
  Actor?: { Attributes?: Record<string, string> };
};

export class DockerEventSource implements EngineEventSource {
  readonly #connection: DockerConnection;

  constructor(options: DockerConnectionOptions = {}) {
    this.#connection = resolveConnection(options);
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
    const path = `/events?filters=${encodeURIComponent(filters)}`;
    const c = this.#connection;
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    const req =
      c.kind === "socket"
        ? request({ socketPath: c.socketPath, path, method: "GET" })
        : (c.protocol === "https" ? requestTls : request)({
            host: c.host,
            port: c.port,
            path,
            method: "GET",
          });
    req.on("response", (response) => {
      if (response.statusCode !== 200) {
        end(new Error(`docker events answered HTTP ${response.statusCode}`));
        response.resume();
        return;
      }
      let buffered = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf("\n");
          const event = line ? toEngineEvent(line) : undefined;
          if (event) onEvent(event);
        }
      });
      response.on("end", () => end());
      response.on("error", end);
    });
    req.on("error", end);
    req.end();
    return () => {
      ended = true;
      req.destroy();
    };
  }
}

function toEngineEvent(line: string): EngineEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const action = raw.Action ?? "";
  // exec_* and health probes run constantly and change nothing the planner looks at, except health.
  if (!raw.id || action.startsWith("exec_")) return undefined;
  return {
    containerId: raw.id,
    resource: raw.Actor?.Attributes?.[LABELS.resource] ?? "",
    action,
    time: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : Date.now(),
  };
}
