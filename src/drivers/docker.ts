// The ContainerEngine over a Docker Engine: thin async calls returning parsed values.
// Reads go through a small node:http client; dockerode, the client for every mutation and pull,
// is loaded on first use, so a no-op apply never pays for its import.
// Every call has a deadline and takes the caller's AbortSignal, so a hung dockerd cannot hang an apply
// or a node's work queue. Every failure leaves as a typed error naming the container or image; one the
// driver typed already (a timeout, an abort, a misconfigured client) passes each catch unchanged.
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type Dockerode from "dockerode";
import { errorMessage, ImageUnavailableError, TreescaleError, UsageError } from "../errors.js";
import type { ObservedContainer } from "../model/observed.js";
import type { ContainerUsage } from "../model/usage.js";
import { DEFAULT_ENGINE_TIMEOUTS, type EngineTimeouts, withDeadline } from "./deadline.js";
import {
  dockerDeadline,
  engineSaid,
  HTTP,
  isGone,
  isRemovalInProgress,
  isUnreachable,
  requestFailed,
  statusOf,
  unpullable,
  unreachableError,
} from "./docker-errors.js";
import {
  createOptions,
  type DockerConnection,
  type DockerEngineOptions,
  dockerodeOptions,
  type ListedContainer,
  ownedFilter,
  parsePullEvent,
  resolveConnection,
  restartCountOf,
  toObservedContainer,
} from "./docker-mapping.js";
import { type EngineStatsAnswer, usageFromAnswer } from "./docker-stats.js";
import type {
  ContainerEngine,
  ContainerLogReader,
  ContainerRestartCounter,
  ContainerStatsSource,
  CreateContainerRequest,
  EngineCallOptions,
  LogOptions,
  PullProgress,
} from "./engine.js";
import { ContainerNameConflictError, EngineRequestError, EngineTimeoutError } from "./engine-errors.js";
import { EngineHttpClient } from "./engine-http.js";
import { type LogLine, LogLineSplitter } from "./log-lines.js";

const MS_PER_SECOND = 1000;
/** How long another client's removal of a container may take before remove() gives up on it. */
const REMOVAL_WAIT_MS = 10_000;
const REMOVAL_POLL_MS = 50;
/** The engine sends a running container's stats every second: this much silence means the stream is stuck. */
const STATS_SILENCE_MS = 10_000;

export class DockerEngine
  implements ContainerEngine, ContainerStatsSource, ContainerLogReader, ContainerRestartCounter
{
  readonly connection: DockerConnection;
  readonly timeouts: EngineTimeouts;
  readonly #reader: EngineHttpClient;
  #docker: Promise<Dockerode> | undefined;

  constructor(options: DockerEngineOptions = {}) {
    this.connection = resolveConnection(options);
    this.timeouts = { ...DEFAULT_ENGINE_TIMEOUTS, ...options.timeouts };
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

  /**
   * One request under the usual deadline; `operation` names it for a timeout or an abort.
   * Callers load dockerode first: its import is this process's cost, not the engine's.
   */
  #request<T>(
    operation: string,
    options: EngineCallOptions,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return withDeadline(
      dockerDeadline(this.connection, operation, this.timeouts.requestMs, options.signal),
      call,
    );
  }

  async ping(options: EngineCallOptions = {}): Promise<void> {
    try {
      await this.#request("ping", options, (signal) => this.#reader.get("/_ping", {}, signal));
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      throw unreachableError(this.connection, error);
    }
  }

  /** Also the reachability check: an engine that does not answer fails it with EngineUnreachableError. */
  async listOwned(node: string, options: EngineCallOptions = {}): Promise<ObservedContainer[]> {
    const operation = `list the containers of node "${node}"`;
    // One list call with the engine filtering by label: no per-container inspect on the hot path.
    try {
      const entries = await this.#request(operation, options, (signal) =>
        this.#reader.get("/containers/json", { all: "true", filters: ownedFilter(node) }, signal),
      );
      if (!Array.isArray(entries))
        throw new EngineRequestError(`unexpected answer: ${JSON.stringify(entries)}`, undefined);
      return (entries as ListedContainer[]).map(toObservedContainer);
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  /** One inspect: the list call does not carry RestartCount. */
  async restartCount(id: string, options: EngineCallOptions = {}): Promise<number | null> {
    const operation = `read the restart count of container ${id}`;
    try {
      const answer = await this.#request(operation, options, (signal) =>
        this.#reader.get(`/containers/${encodeURIComponent(id)}/json`, {}, signal),
      );
      return restartCountOf(answer);
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async stats(id: string, options: EngineCallOptions = {}): Promise<ContainerUsage> {
    const operation = `read the stats of container ${id}`;
    try {
      const answer = await this.#request(operation, options, (signal) =>
        this.#reader.get(`/containers/${encodeURIComponent(id)}/stats`, { stream: "false" }, signal),
      );
      if (typeof answer !== "object" || answer === null)
        throw new EngineRequestError(`unexpected answer: ${JSON.stringify(answer)}`, undefined);
      return usageFromAnswer(answer as EngineStatsAnswer);
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  watchStats(
    id: string,
    onUsage: (usage: ContainerUsage) => void,
    onEnd: (error?: unknown) => void,
  ): () => void {
    const operation = `read the stats of container ${id}`;
    let ended = false;
    const end = (error?: unknown) => {
      if (ended) return;
      ended = true;
      clearTimeout(silence);
      stop();
      onEnd(error);
    };
    // The connect deadline covers the first answer only; a stream that then goes quiet is ended here.
    const silence = setTimeout(
      () =>
        end(
          new EngineTimeoutError(
            operation,
            STATS_SILENCE_MS,
            `${operation}: the Docker engine sent no figures for ${STATS_SILENCE_MS / MS_PER_SECOND} s (it sends one a second)`,
          ),
        ),
      STATS_SILENCE_MS,
    );
    silence.unref();
    const stop = this.#reader.stream(
      `/containers/${encodeURIComponent(id)}/stats?stream=true`,
      (line) => {
        silence.refresh();
        try {
          onUsage(usageFromAnswer(JSON.parse(line) as EngineStatsAnswer));
        } catch (error) {
          end(
            new EngineRequestError(`${operation}: unreadable answer: ${errorMessage(error)}`, undefined, {
              cause: error,
            }),
          );
        }
      },
      (error) =>
        end(error === undefined ? undefined : requestFailedOrTyped(this.connection, operation, error)),
      dockerDeadline(this.connection, operation, this.timeouts.requestMs, undefined),
    );
    return () => {
      ended = true;
      clearTimeout(silence);
      stop();
    };
  }

  async hasImage(reference: string, options: EngineCallOptions = {}): Promise<boolean> {
    const operation = `look up image "${reference}"`;
    try {
      await this.#request(operation, options, (signal) =>
        this.#reader.get(`/images/${encodeURIComponent(reference)}/json`, {}, signal),
      );
      return true;
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (statusOf(error) === HTTP.notFound) return false;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async pullImage(
    reference: string,
    onProgress: (progress: PullProgress) => void,
    options: EngineCallOptions = {},
  ): Promise<void> {
    let pullFailure: string | undefined;
    const deadline = dockerDeadline(
      this.connection,
      `pull image "${reference}"`,
      this.timeouts.pullIdleMs,
      options.signal,
      "between-events",
    );
    try {
      const docker = await this.#client();
      await withDeadline(deadline, async (signal, progressed) => {
        const stream = await docker.pull(reference, { abortSignal: signal });
        progressed();
        // The request's signal does not reach a response already streaming: close it explicitly.
        signal.addEventListener("abort", () => (stream instanceof Readable ? stream.destroy() : undefined), {
          once: true,
        });
        await new Promise<void>((resolve, reject) => {
          docker.modem.followProgress(
            stream,
            (error: unknown) => (error ? reject(error) : resolve()),
            (event: unknown) => {
              progressed();
              const parsed = parsePullEvent(reference, event);
              if ("error" in parsed) pullFailure ??= parsed.error;
              else onProgress(parsed.progress);
            },
          );
        });
      });
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (isUnreachable(error)) throw unreachableError(this.connection, error);
      throw unpullable(reference, engineSaid(error), error);
    }
    // Docker answers 200 and reports a failed pull inside the progress stream.
    if (pullFailure !== undefined) throw unpullable(reference, pullFailure);
  }

  async create(request: CreateContainerRequest, options: EngineCallOptions = {}): Promise<string> {
    const operation = `create container "${request.name}"`;
    try {
      const docker = await this.#client();
      const container = await this.#request(operation, options, (signal) =>
        docker.createContainer({ ...createOptions(request), abortSignal: signal }),
      );
      return container.id;
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
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
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async readLogs(
    id: string,
    options: LogOptions,
    onLine: (line: LogLine) => void,
    call: EngineCallOptions = {},
  ): Promise<void> {
    const operation = `read the logs of container ${id}`;
    const query = {
      stdout: true,
      stderr: true,
      timestamps: options.timestamps,
      ...(options.tail !== undefined ? { tail: options.tail } : {}),
      ...(options.since !== undefined ? { since: options.since } : {}),
    };
    const splitter = new LogLineSplitter();
    const emit = (lines: LogLine[]) => {
      for (const line of lines) onLine(line);
    };
    try {
      const docker = await this.#client();
      const container = docker.getContainer(id);
      if (!options.follow) {
        const output = await this.#request(operation, call, (signal) =>
          container.logs({ ...query, follow: false, abortSignal: signal }),
        );
        emit(splitter.push(Buffer.from(output)));
        emit(splitter.end());
        return;
      }
      // The deadline covers opening the stream; what follows ends with the container or the caller.
      const stream = await this.#request(operation, call, (signal) =>
        container.logs({ ...query, follow: true, abortSignal: call.signal ?? signal }),
      );
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          (stream as Readable).destroy();
          resolve();
        };
        if (call.signal?.aborted) return stop();
        call.signal?.addEventListener("abort", stop, { once: true });
        stream.on("data", (chunk: Buffer) => emit(splitter.push(chunk)));
        stream.on("end", () => resolve());
        stream.on("close", () => resolve());
        stream.on("error", (error: unknown) => (call.signal?.aborted ? resolve() : reject(error)));
      });
      emit(splitter.end());
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async start(id: string, options: EngineCallOptions = {}): Promise<void> {
    const operation = `start container ${id}`;
    try {
      const docker = await this.#client();
      await this.#request(operation, options, (signal) =>
        docker.getContainer(id).start({ abortSignal: signal }),
      );
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (statusOf(error) === HTTP.notModified) return;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async rename(id: string, name: string, options: EngineCallOptions = {}): Promise<void> {
    const operation = `rename container ${id} to "${name}"`;
    try {
      const docker = await this.#client();
      await this.#request(operation, options, (signal) =>
        docker.getContainer(id).rename({ name, abortSignal: signal }),
      );
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (statusOf(error) === HTTP.conflict) {
        throw new ContainerNameConflictError(
          name,
          `cannot ${operation}: the name is taken (${engineSaid(error)}). ` +
            "Remove or rename the other container first; TreeScale never replaces a container silently.",
          { cause: error },
        );
      }
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  async remove(id: string, stopTimeoutSeconds: number, options: EngineCallOptions = {}): Promise<void> {
    // The engine itself waits out the grace period before it kills: only what goes beyond it is a hang.
    const stop = dockerDeadline(
      this.connection,
      `stop container ${id} (grace period ${stopTimeoutSeconds} s)`,
      stopTimeoutSeconds * MS_PER_SECOND + this.timeouts.stopMarginMs,
      options.signal,
    );
    const container = (await this.#client()).getContainer(id);
    try {
      await withDeadline(stop, (signal) => container.stop({ t: stopTimeoutSeconds, abortSignal: signal }));
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (statusOf(error) === HTTP.notFound) return;
      if (isUnreachable(error)) throw unreachableError(this.connection, error);
      // 304 is "already stopped"; any other failure to stop is settled by the forced remove below.
    }
    try {
      await this.#request(`remove container ${id}`, options, (signal) =>
        container.remove({ abortSignal: signal }),
      );
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (isRemovalInProgress(error)) return this.#awaitRemoval(id, options);
      if (isGone(error)) return;
      if (isUnreachable(error)) throw unreachableError(this.connection, error);
      // Still running (a restart policy raced the stop, or the stop failed): force it.
      await this.#forceRemove(container, options);
    }
  }

  async #forceRemove(container: Dockerode.Container, options: EngineCallOptions): Promise<void> {
    const operation = `remove container ${container.id}`;
    try {
      await this.#request(operation, options, (signal) =>
        container.remove({ force: true, abortSignal: signal }),
      );
    } catch (error) {
      if (error instanceof TreescaleError) throw error;
      if (isRemovalInProgress(error)) return this.#awaitRemoval(container.id, options);
      if (isGone(error)) return;
      throw requestFailed(this.connection, `cannot ${operation}`, error);
    }
  }

  /**
   * Another removal of the container is under way: the container, and its name, stay until it ends. Waits
   * until the engine no longer knows it, so that a create of the same name right after remove() succeeds.
   */
  async #awaitRemoval(id: string, options: EngineCallOptions): Promise<void> {
    const deadline = dockerDeadline(
      this.connection,
      `wait for the engine to finish removing container ${id}`,
      REMOVAL_WAIT_MS,
      options.signal,
    );
    await withDeadline(deadline, async (signal) => {
      for (;;) {
        try {
          await this.#reader.get(`/containers/${encodeURIComponent(id)}/json`, {}, signal);
        } catch (error) {
          if (statusOf(error) === HTTP.notFound) return;
          if (isUnreachable(error)) throw unreachableError(this.connection, error);
          throw requestFailed(this.connection, `cannot inspect container ${id}`, error);
        }
        await sleep(REMOVAL_POLL_MS, undefined, { signal });
      }
    });
  }
}

function requestFailedOrTyped(connection: DockerConnection, operation: string, error: unknown): unknown {
  if (error instanceof TreescaleError) return error;
  if (isUnreachable(error)) return unreachableError(connection, error);
  return requestFailed(connection, `cannot ${operation}`, error);
}
