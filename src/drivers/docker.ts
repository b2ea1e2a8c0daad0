// The ContainerEngine over a Docker Engine: thin async calls returning parsed values.
// Reads go through a small node:http client; dockerode, the client for every mutation and pull,
// is loaded on first use, so a no-op apply never pays for its import.
// Every failure leaves as a typed error that names the container or image and what the engine said.
import type Dockerode from "dockerode";
import { EngineUnreachableError, errorMessage, ImageUnavailableError, UsageError } from "../errors.js";
import type { ObservedContainer } from "../model/observed.js";
import {
  createOptions,
  type DockerConnection,
  type DockerConnectionOptions,
  describeConnection,
  dockerodeOptions,
  type ListedContainer,
  ownedFilter,
  parsePullEvent,
  resolveConnection,
  toObservedContainer,
} from "./docker-mapping.js";
import type { ContainerEngine, CreateContainerRequest, PullProgress } from "./engine.js";
import { ContainerNameConflictError, EngineRequestError } from "./engine-errors.js";
import { EngineHttpClient } from "./engine-http.js";

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

const HTTP = { notModified: 304, notFound: 404, conflict: 409 } as const;

function failure(error: unknown): EngineFailure {
  return error !== null && typeof error === "object" ? (error as EngineFailure) : {};
}

function statusOf(error: unknown): number | undefined {
  const { statusCode } = failure(error);
  return typeof statusCode === "number" ? statusCode : undefined;
}

function isUnreachable(error: unknown): boolean {
  const { code } = failure(error);
  return statusOf(error) === undefined && typeof code === "string" && UNREACHABLE_CODES.has(code);
}

/** The engine's own words ("No such image: x") rather than dockerode's "(HTTP code 404) ..." wrapper. */
function engineSaid(error: unknown): string {
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
function isGone(error: unknown): boolean {
  const status = statusOf(error);
  return (
    status === HTTP.notFound || (status === HTTP.conflict && /already in progress/i.test(engineSaid(error)))
  );
}

export class DockerEngine implements ContainerEngine {
  readonly connection: DockerConnection;
  readonly #reader: EngineHttpClient;
  #docker: Promise<Dockerode> | undefined;

  constructor(options: DockerConnectionOptions = {}) {
    this.connection = resolveConnection(options);
    this.#reader = new EngineHttpClient(this.connection, process.env.DOCKER_CERT_PATH);
  }

  /** dockerode on the same connection, imported and built on first use. */
  #client(): Promise<Dockerode> {
    this.#docker ??= import("dockerode").then(({ default: Docker }) => {
      try {
        return new Docker(dockerodeOptions(this.connection));
      } catch (error) {
        // docker-modem reads DOCKER_HOST itself and throws on a malformed one.
        throw new UsageError(`cannot configure the Docker client: ${errorMessage(error)}`, { cause: error });
      }
    });
    return this.#docker;
  }

  async ping(): Promise<void> {
    try {
      await this.#reader.get("/_ping");
    } catch (error) {
      throw this.#unreachable(error);
    }
  }

  /** Also the reachability check: an engine that does not answer fails it with EngineUnreachableError. */
  async listOwned(node: string): Promise<ObservedContainer[]> {
    // One list call with the engine filtering by label: no per-container inspect on the hot path.
    try {
      const entries = await this.#reader.get("/containers/json", { all: "true", filters: ownedFilter(node) });
      if (!Array.isArray(entries)) throw new Error(`unexpected answer: ${JSON.stringify(entries)}`);
      return (entries as ListedContainer[]).map(toObservedContainer);
    } catch (error) {
      throw this.#failed(`cannot list the containers of node "${node}"`, error);
    }
  }

  async hasImage(reference: string): Promise<boolean> {
    try {
      await this.#reader.get(`/images/${encodeURIComponent(reference)}/json`);
      return true;
    } catch (error) {
      if (statusOf(error) === HTTP.notFound) return false;
      throw this.#failed(`cannot look up image "${reference}"`, error);
    }
  }

  async pullImage(reference: string, onProgress: (progress: PullProgress) => void): Promise<void> {
    let pullFailure: string | undefined;
    try {
      const docker = await this.#client();
      const stream = await docker.pull(reference);
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(
          stream,
          (error: unknown) => (error ? reject(error) : resolve()),
          (event: unknown) => {
            const parsed = parsePullEvent(reference, event);
            if ("error" in parsed) pullFailure ??= parsed.error;
            else onProgress(parsed.progress);
          },
        );
      });
    } catch (error) {
      if (isUnreachable(error)) throw this.#unreachable(error);
      throw unpullable(reference, engineSaid(error), error);
    }
    // Docker answers 200 and reports a failed pull inside the progress stream.
    if (pullFailure !== undefined) throw unpullable(reference, pullFailure);
  }

  async create(request: CreateContainerRequest): Promise<string> {
    try {
      const container = await (await this.#client()).createContainer(createOptions(request));
      return container.id;
    } catch (error) {
      const said = engineSaid(error);
      const status = statusOf(error);
      if (status === HTTP.conflict) {
        throw new ContainerNameConflictError(
          request.name,
          `cannot create container "${request.name}": the name is taken (${said}). ` +
            "Remove or rename the other container; TreeScale never replaces a container it did not create.",
          { cause: error },
        );
      }
      if (status === HTTP.notFound) {
        throw new ImageUnavailableError(
          request.spec.image,
          `cannot create container "${request.name}": ${said}. Pull, build or load image "${request.spec.image}" first.`,
          { cause: error },
        );
      }
      throw this.#failed(`cannot create container "${request.name}"`, error);
    }
  }

  async start(id: string): Promise<void> {
    try {
      await (await this.#client()).getContainer(id).start();
    } catch (error) {
      if (statusOf(error) === HTTP.notModified) return;
      throw this.#failed(`cannot start container ${id}`, error);
    }
  }

  async rename(id: string, name: string): Promise<void> {
    try {
      await (await this.#client()).getContainer(id).rename({ name });
    } catch (error) {
      throw this.#failed(`cannot rename container ${id} to "${name}"`, error);
    }
  }

  async remove(id: string, stopTimeoutSeconds: number): Promise<void> {
    const container = (await this.#client()).getContainer(id);
    try {
      await container.stop({ t: stopTimeoutSeconds });
    } catch (error) {
      if (statusOf(error) === HTTP.notFound) return;
      if (isUnreachable(error)) throw this.#unreachable(error);
      // 304 is "already stopped"; any other failure to stop is settled by the forced remove below.
    }
    try {
      await container.remove();
    } catch (error) {
      if (isGone(error)) return;
      if (isUnreachable(error)) throw this.#unreachable(error);
      // Still running (a restart policy raced the stop, or the stop failed): force it.
      await this.#forceRemove(id);
    }
  }

  async #forceRemove(id: string): Promise<void> {
    try {
      await (await this.#client()).getContainer(id).remove({ force: true });
    } catch (error) {
      if (isGone(error)) return;
      throw this.#failed(`cannot remove container ${id}`, error);
    }
  }

  #failed(doing: string, error: unknown): Error {
    if (isUnreachable(error)) return this.#unreachable(error);
    return new EngineRequestError(`${doing}: the Docker engine said: ${engineSaid(error)}`, statusOf(error), {
      cause: error,
    });
  }

  #unreachable(error: unknown): EngineUnreachableError {
    const where = describeConnection(this.connection);
    const { code } = failure(error);
    const hint =
      code === "EACCES" || code === "EPERM"
        ? "permission denied: run as root or add this user to the docker group; or set DOCKER_HOST"
        : "is dockerd running? start it with `sudo systemctl start docker` or `dockerd &`; or set DOCKER_HOST";
    return new EngineUnreachableError(
      `cannot reach the Docker engine at ${where} (${errorMessage(error)}): ${hint}`,
      { cause: error },
    );
  }
}

function unpullable(reference: string, reason: string, cause?: unknown): ImageUnavailableError {
  return new ImageUnavailableError(
    reference,
    `image "${reference}" is not on this engine and could not be pulled: ${reason}. ` +
      "Build or load it first (e.g. docker load / docker import), or check the name.",
    cause === undefined ? undefined : { cause },
  );
}
