// Pure translation between TreeScale's model and the Docker Engine API: where to connect,
// what to send on create, how to read a list entry back. No I/O, so every case is unit-tested.
import type Dockerode from "dockerode";
import { UsageError } from "../errors.js";
import { LABELS, LEGACY_STACK } from "../model/labels.js";
import type { ContainerRunState, ObservedContainer } from "../model/observed.js";
import type { HealthCheck, PortMapping } from "../model/resources.js";
import type { EngineTimeouts } from "./deadline.js";
import type { CreateContainerRequest, PullProgress } from "./engine.js";

export type DockerConnectionOptions = { socketPath?: string; host?: string; port?: number };

/** Where the engine is, and how long each kind of call may take (DEFAULT_ENGINE_TIMEOUTS for what is unset). */
export type DockerEngineOptions = DockerConnectionOptions & { timeouts?: Partial<EngineTimeouts> };

export type DockerConnection =
  | { kind: "socket"; socketPath: string }
  | { kind: "tcp"; host: string; port: number; protocol: "http" | "https" };

export const DEFAULT_SOCKET_PATH = "/var/run/docker.sock";
const DEFAULT_TCP_PORT = 2375;
const DEFAULT_TLS_PORT = 2376;

/**
 * Explicit options first, then DOCKER_HOST (unix:// or tcp://), then the default socket,
 * as the docker CLI does. TLS certificates (DOCKER_CERT_PATH) are read by docker-modem.
 */
export function resolveConnection(
  options: DockerConnectionOptions = {},
  env: Record<string, string | undefined> = process.env,
): DockerConnection {
  if (options.socketPath) return { kind: "socket", socketPath: options.socketPath };
  const tls = env.DOCKER_TLS_VERIFY === "1";
  if (options.host) {
    return { kind: "tcp", host: options.host, port: options.port ?? DEFAULT_TCP_PORT, protocol: "http" };
  }
  const dockerHost = env.DOCKER_HOST?.trim();
  if (!dockerHost) return { kind: "socket", socketPath: DEFAULT_SOCKET_PATH };
  if (dockerHost.startsWith("unix://")) {
    return { kind: "socket", socketPath: dockerHost.slice("unix://".length) || DEFAULT_SOCKET_PATH };
  }
  // A bare host:port means tcp to the docker CLI too.
  const withScheme = dockerHost.includes("://") ? dockerHost : `tcp://${dockerHost}`;
  const url = URL.canParse(withScheme) ? new URL(withScheme) : undefined;
  if (url?.protocol !== "tcp:" || !url.hostname) {
    throw new UsageError(
      `DOCKER_HOST=${dockerHost} is not supported: use unix:///path/to/docker.sock or tcp://host:port`,
    );
  }
  const port = url.port ? Number(url.port) : tls ? DEFAULT_TLS_PORT : DEFAULT_TCP_PORT;
  const protocol = tls || port === DEFAULT_TLS_PORT ? "https" : "http";
  // URL keeps IPv6 literals bracketed; the http module wants them bare.
  return { kind: "tcp", host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port, protocol };
}

export function describeConnection(connection: DockerConnection): string {
  return connection.kind === "socket"
    ? `unix socket ${connection.socketPath}`
    : `${connection.protocol === "https" ? "tcp+tls" : "tcp"}://${connection.host}:${connection.port}`;
}

/** Every field set, so docker-modem's own DOCKER_HOST defaults cannot override the choice made here. */
export function dockerodeOptions(connection: DockerConnection): Dockerode.DockerOptions {
  return connection.kind === "socket"
    ? { socketPath: connection.socketPath, host: undefined, port: undefined, protocol: "http" }
    : {
        socketPath: undefined,
        host: connection.host,
        port: connection.port,
        protocol: connection.protocol,
      };
}

/** The list filter for what one node owns; the engine does the filtering. */
export function ownedFilter(node: string): { label: string[] } {
  return { label: [`${LABELS.managed}=true`, `${LABELS.node}=${node}`] };
}

const HEALTHCHECK_KINDS = new Set(["CMD", "CMD-SHELL", "NONE"]);
const NANOSECONDS_PER_MILLISECOND = 1_000_000;

function portKey(port: PortMapping): string {
  return `${port.containerPort}/${port.protocol}`;
}

function healthcheckOptions(check: HealthCheck): Dockerode.HealthConfig {
  const [kind] = check.test;
  // A bare command is an exec-form check, as compose reads it.
  const test = kind !== undefined && HEALTHCHECK_KINDS.has(kind) ? check.test : ["CMD", ...check.test];
  const out: Dockerode.HealthConfig = { Test: test };
  if (check.intervalMs !== undefined) out.Interval = check.intervalMs * NANOSECONDS_PER_MILLISECOND;
  if (check.timeoutMs !== undefined) out.Timeout = check.timeoutMs * NANOSECONDS_PER_MILLISECOND;
  if (check.startPeriodMs !== undefined) out.StartPeriod = check.startPeriodMs * NANOSECONDS_PER_MILLISECOND;
  if (check.retries !== undefined) out.Retries = check.retries;
  return out;
}

/** The labels every owned container carries; TreeScale's own win over a user label of the same name. */
export function ownershipLabels(request: CreateContainerRequest): Record<string, string> {
  return {
    ...request.spec.labels,
    [LABELS.managed]: "true",
    [LABELS.stack]: request.stack,
    [LABELS.resource]: request.spec.name,
    [LABELS.node]: request.node,
    [LABELS.replica]: String(request.replica),
    [LABELS.hash]: request.hash,
    [LABELS.fieldHashes]: JSON.stringify(request.fieldHashes),
    [LABELS.generation]: String(request.generation),
  };
}

export function createOptions(request: CreateContainerRequest): Dockerode.ContainerCreateOptions {
  const { spec } = request;
  const exposedPorts: Record<string, Record<string, never>> = {};
  const portBindings: Dockerode.PortMap = {};
  for (const port of spec.ports) {
    const key = portKey(port);
    exposedPorts[key] = {};
    const binding = { HostIp: port.hostIp ?? "", HostPort: String(port.hostPort) };
    portBindings[key] = [...(portBindings[key] ?? []), binding];
  }

  const hostConfig: Dockerode.HostConfig = {
    Binds: [...spec.volumes],
    PortBindings: portBindings,
    RestartPolicy: { Name: spec.restart, MaximumRetryCount: 0 },
  };
  if (spec.memoryBytes !== undefined) hostConfig.Memory = spec.memoryBytes;
  if (spec.cpus !== undefined) hostConfig.NanoCpus = Math.round(spec.cpus * 1e9);

  const options: Dockerode.ContainerCreateOptions = {
    name: request.name,
    Image: spec.image,
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    Labels: ownershipLabels(request),
    ExposedPorts: exposedPorts,
    HostConfig: hostConfig,
  };
  if (spec.command !== undefined) options.Cmd = [...spec.command];
  if (spec.entrypoint !== undefined) options.Entrypoint = [...spec.entrypoint];
  if (spec.healthcheck !== undefined) options.Healthcheck = healthcheckOptions(spec.healthcheck);
  return options;
}

/** The fields of a list entry the mapping reads; the rest of Docker's answer is ignored. */
export type ListedContainer = Pick<
  Dockerode.ContainerInfo,
  "Id" | "Names" | "Image" | "Created" | "State" | "Status"
> &
  Partial<Pick<Dockerode.ContainerInfo, "ImageID">> & {
    Labels: Record<string, string> | null;
    NetworkSettings?: { Networks?: Record<string, { IPAddress?: string } | null> | null } | null;
    Ports?: { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[] | null;
  };

const RUN_STATES: readonly ContainerRunState[] = [
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
];

/** A replica label that is missing or not a whole number; matches no desired replica, so it gets replaced. */
export const UNKNOWN_REPLICA = -1;

function parseRunState(state: string): ContainerRunState {
  const found = RUN_STATES.find((known) => known === state);
  // Unknown states are treated as broken rather than guessed as running.
  return found ?? "dead";
}

/** Docker puts health only in the human status text: "Up 3 seconds (health: starting)". */
export function parseHealth(status: string): ObservedContainer["health"] {
  if (status.includes("(health: starting)")) return "starting";
  if (status.includes("(unhealthy)")) return "unhealthy";
  if (status.includes("(healthy)")) return "healthy";
  return undefined;
}

function parseReplica(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) return UNKNOWN_REPLICA;
  const replica = Number(value);
  return Number.isSafeInteger(replica) ? replica : UNKNOWN_REPLICA;
}

/** Garbage yields {}: the container then differs in every field, which is the safe answer. */
export function parseFieldHashes(value: string | undefined): Record<string, string> {
  if (value === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return {};
  const out: Record<string, string> = {};
  for (const [field, hash] of Object.entries(parsed)) {
    if (typeof hash === "string") out[field] = hash;
  }
  return out;
}

/** Docker's Created is seconds since the epoch; an unreadable one yields "". */
function isoTime(seconds: number): string {
  const time = new Date(seconds * 1000);
  return Number.isNaN(time.getTime()) ? "" : time.toISOString();
}

export function toObservedContainer(entry: ListedContainer): ObservedContainer {
  const labels = entry.Labels ?? {};
  const observed: ObservedContainer = {
    id: entry.Id,
    name: (entry.Names[0] ?? "").replace(/^\//, ""),
    node: labels[LABELS.node] ?? "",
    stack: labels[LABELS.stack] ?? LEGACY_STACK,
    resource: labels[LABELS.resource] ?? "",
    replica: parseReplica(labels[LABELS.replica]),
    hash: labels[LABELS.hash] ?? "",
    fieldHashes: parseFieldHashes(labels[LABELS.fieldHashes]),
    image: entry.Image,
    state: parseRunState(entry.State),
    createdAt: isoTime(entry.Created),
    restarts: null,
  };
  const health = parseHealth(entry.Status);
  if (health !== undefined) observed.health = health;
  if (entry.ImageID) observed.imageId = entry.ImageID;
  // The user's own labels, what `get -l` selects on; ours say where the container belongs and are fields already.
  const own = Object.entries(labels).filter(([key]) => !key.startsWith("treescale."));
  if (own.length > 0) observed.labels = Object.fromEntries(own);
  // The address other containers and this host reach it at: a balancer's backends are these.
  const ip = Object.values(entry.NetworkSettings?.Networks ?? {}).find((n) => n?.IPAddress)?.IPAddress;
  if (ip) observed.ip = ip;
  // Where other hosts reach it: a balancer on a node above this one sends to these.
  const published = (entry.Ports ?? []).flatMap((p) =>
    p.PublicPort && (p.Type === "tcp" || p.Type === "udp")
      ? [
          {
            port: p.PrivatePort,
            protocol: p.Type as "tcp" | "udp",
            hostPort: p.PublicPort,
            ...(p.IP && p.IP !== "0.0.0.0" && p.IP !== "::" ? { hostIp: p.IP } : {}),
          },
        ]
      : [],
  );
  if (published.length > 0) observed.published = dedupePublished(published);
  return observed;
}

/** A container's restart count from its inspect answer; null when the answer has none that reads as a count. */
export function restartCountOf(inspect: unknown): number | null {
  if (!isRecord(inspect)) return null;
  const count = inspect.RestartCount;
  return typeof count === "number" && Number.isSafeInteger(count) && count >= 0 ? count : null;
}

/** Docker lists a port published on every address once per family (0.0.0.0 and ::). */
function dedupePublished(
  ports: NonNullable<ObservedContainer["published"]>,
): NonNullable<ObservedContainer["published"]> {
  const seen = new Map<string, (typeof ports)[number]>();
  for (const port of ports)
    seen.set(`${port.protocol}/${port.port}/${port.hostPort}/${port.hostIp ?? ""}`, port);
  return [...seen.values()];
}

/** One line of a pull's progress stream: progress to report, or the failure Docker put in the stream. */
export type PullEvent = { progress: PullProgress } | { error: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function parsePullEvent(image: string, event: unknown): PullEvent {
  if (!isRecord(event)) return { progress: { image, status: String(event) } };
  if (event.error !== undefined || event.errorDetail !== undefined) {
    const detail = isRecord(event.errorDetail) ? event.errorDetail.message : undefined;
    return { error: String(event.error ?? detail ?? "unknown error") };
  }
  const layer = typeof event.id === "string" ? `${event.id}: ` : "";
  const progress: PullProgress = { image, status: `${layer}${String(event.status ?? "")}` };
  const detail = isRecord(event.progressDetail) ? event.progressDetail : {};
  if (typeof detail.current === "number") progress.current = detail.current;
  if (typeof detail.total === "number") progress.total = detail.total;
  return { progress };
}
