// How the Docker driver reads a failure (dockerode's, docker-modem's or engine-http's, which share
// their fields) and words it: every error names the container or image, the engine, and what to do.
import { AbortedError, EngineUnreachableError, errorMessage, ImageUnavailableError } from "../errors.js";
import type { Deadline } from "./deadline.js";
import { type DockerConnection, describeConnection } from "./docker-mapping.js";
import { EngineRequestError, EngineTimeoutError } from "./engine-errors.js";

/** What dockerode and docker-modem attach to their errors. */
type EngineFailure = { statusCode?: unknown; code?: unknown; json?: unknown };

// Errors of the connection itself, before any HTTP answer: the engine is not there for us.
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "ENOTDIR",
  "ENOTSOCK",
  "EACCES",
  "EPERM",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

export const HTTP = { notModified: 304, notFound: 404, conflict: 409 } as const;

function failure(error: unknown): EngineFailure {
  return error !== null && typeof error === "object" ? (error as EngineFailure) : {};
}

export function statusOf(error: unknown): number | undefined {
  const { statusCode } = failure(error);
  return typeof statusCode === "number" ? statusCode : undefined;
}

export function isUnreachable(error: unknown): boolean {
  const { code } = failure(error);
  return statusOf(error) === undefined && typeof code === "string" && UNREACHABLE_CODES.has(code);
}

/** The engine's own words ("No such image: x") rather than dockerode's "(HTTP code 404) ..." wrapper. */
export function engineSaid(error: unknown): string {
  const { json } = failure(error);
  if (json !== null && typeof json === "object" && "message" in json && typeof json.message === "string") {
    return json.message.trim();
  }
  // Streamed requests (pull) carry no json; the words follow dockerode's "(HTTP code 500) server error - ".
  return errorMessage(error)
    .replace(/^\(HTTP code \d+\) [^-]* - /, "")
    .trim();
}

/** No such container, or its removal is already under way (another remove, or --rm). */
/** The engine is already removing the container (another `docker rm`): it still holds the name meanwhile. */
export function isRemovalInProgress(error: unknown): boolean {
  return statusOf(error) === HTTP.conflict && /already in progress/i.test(engineSaid(error));
}

export function isGone(error: unknown): boolean {
  const status = statusOf(error);
  return (
    status === HTTP.notFound || (status === HTTP.conflict && /already in progress/i.test(engineSaid(error)))
  );
}

export function unreachableError(connection: DockerConnection, error: unknown): EngineUnreachableError {
  const { code } = failure(error);
  const hint =
    code === "EACCES" || code === "EPERM"
      ? "permission denied: run as root or add this user to the docker group; or set DOCKER_HOST"
      : "is dockerd running? start it with `sudo systemctl start docker` or `dockerd &`; or set DOCKER_HOST";
  return new EngineUnreachableError(
    `cannot reach the Docker engine at ${describeConnection(connection)} (${errorMessage(error)}): ${hint}`,
    { cause: error },
  );
}

/** `doing` reads as "cannot create container "x"". */
export function requestFailed(connection: DockerConnection, doing: string, error: unknown): Error {
  if (isUnreachable(error)) return unreachableError(connection, error);
  return new EngineRequestError(`${doing}: the Docker engine said: ${engineSaid(error)}`, statusOf(error), {
    cause: error,
  });
}

export function unpullable(reference: string, reason: string, cause?: unknown): ImageUnavailableError {
  return new ImageUnavailableError(
    reference,
    `image "${reference}" is not on this engine and could not be pulled: ${reason}. ` +
      "Build or load it first (e.g. docker load / docker import), or check the name.",
    cause === undefined ? undefined : { cause },
  );
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

const RESPONSIVE =
  "Check that dockerd is responsive (`docker info` answers at once; its log: `journalctl -u docker`) " +
  "and not starved of CPU, memory or disk I/O.";

/**
 * `operation` names what was asked and of what: `create container "shop_web_1_n1"`. A pull's
 * deadline is `between-events`: it passes only when the engine stops reporting progress.
 */
export function engineTimedOut(
  connection: DockerConnection,
  operation: string,
  timeoutMs: number,
  kind: "total" | "between-events" = "total",
): EngineTimeoutError {
  const where = describeConnection(connection);
  return new EngineTimeoutError(
    operation,
    timeoutMs,
    kind === "total"
      ? `${operation} timed out after ${seconds(timeoutMs)}: the Docker engine at ${where} ` +
          `took the request but did not finish it. ${RESPONSIVE}`
      : `${operation} made no progress for ${seconds(timeoutMs)}: the Docker engine at ${where} ` +
          `stopped reporting progress. Check its access to the registry (network, proxy, credentials). ${RESPONSIVE}`,
  );
}

/** The deadline of one call to the engine (see engineTimedOut), with the caller's signal. */
export function dockerDeadline(
  connection: DockerConnection,
  operation: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  kind: "total" | "between-events" = "total",
): Deadline {
  return {
    timeoutMs,
    signal,
    timedOut: () => engineTimedOut(connection, operation, timeoutMs, kind),
    aborted: (reason) =>
      new AbortedError(
        `${operation} on the Docker engine at ${describeConnection(connection)} was cancelled before ` +
          "it finished; the engine may still carry out what it had received.",
        { cause: reason },
      ),
  };
}
