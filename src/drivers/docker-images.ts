// Images of one Docker engine as streams: what `treescale image push` reads from the source engine
// (docker save) and writes into every target's engine (docker load), and what `get images` lists.
// Save and load have an idle deadline rather than a total one: a large image may take minutes, a
// stalled engine must not hold a push forever.
import type { IncomingMessage } from "node:http";
import { errorMessage, ImageUnavailableError, TreescaleError } from "../errors.js";
import { DEFAULT_ENGINE_TIMEOUTS } from "./deadline.js";
import { HTTP, requestFailed, statusOf } from "./docker-errors.js";
import { type DockerConnection, type DockerEngineOptions, resolveConnection } from "./docker-mapping.js";
import { EngineHttpClient } from "./engine-http.js";

export type EngineImage = { id: string; tags: string[]; size: number };

export interface ImageEngine {
  /** The image's ID (`sha256:…`), or undefined when the engine lacks it. */
  imageId(reference: string): Promise<string | undefined>;
  list(): Promise<EngineImage[]>;
  /** The image as `docker save` writes it; fails with ImageUnavailableError when the engine lacks it. */
  save(reference: string): AsyncIterable<Uint8Array>;
  /**
   * Names the image `id` also `reference` (`docker tag`): an engine that has an image under another
   * name (another tag of the same build) must answer to the name pushed. A reference that is itself an
   * ID or a digest names nothing and is left alone.
   */
  tag(id: string, reference: string): Promise<void>;
  /**
   * Loads a `docker save` stream. When `tar` throws, the upload is cut short and the engine loads
   * nothing: a stream refused half-way never becomes an image.
   */
  load(tar: AsyncIterable<Uint8Array>): Promise<void>;
}

export class DockerImages implements ImageEngine {
  readonly #connection: DockerConnection;
  readonly #http: EngineHttpClient;
  readonly #requestMs: number;
  readonly #idleMs: number;

  constructor(options: DockerEngineOptions = {}) {
    this.#connection = resolveConnection(options);
    this.#http = new EngineHttpClient(this.#connection, process.env.DOCKER_CERT_PATH);
    this.#requestMs = options.timeouts?.requestMs ?? DEFAULT_ENGINE_TIMEOUTS.requestMs;
    this.#idleMs = options.timeouts?.pullIdleMs ?? DEFAULT_ENGINE_TIMEOUTS.pullIdleMs;
  }

  async imageId(reference: string): Promise<string | undefined> {
    try {
      const info = (await this.#http.get(
        `/images/${encodeURIComponent(reference)}/json`,
        {},
        AbortSignal.timeout(this.#requestMs),
      )) as { Id?: string };
      return info.Id;
    } catch (error) {
      if (statusOf(error) === HTTP.notFound) return undefined;
      throw requestFailed(this.#connection, `cannot look up image "${reference}"`, error);
    }
  }

  async list(): Promise<EngineImage[]> {
    try {
      const entries = (await this.#http.get("/images/json", {}, AbortSignal.timeout(this.#requestMs))) as {
        Id: string;
        RepoTags?: string[] | null;
        Size: number;
      }[];
      return entries.map((entry) => ({
        id: entry.Id,
        tags: (entry.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>"),
        size: entry.Size,
      }));
    } catch (error) {
      throw requestFailed(this.#connection, "cannot list images", error);
    }
  }

  async tag(id: string, reference: string): Promise<void> {
    const name = repositoryAndTag(reference);
    if (name === undefined) return;
    try {
      await this.#http.post(
        `/images/${encodeURIComponent(id)}/tag`,
        name,
        AbortSignal.timeout(this.#requestMs),
      );
    } catch (error) {
      throw requestFailed(this.#connection, `cannot tag image ${id} as "${reference}"`, error);
    }
  }

  async *save(reference: string): AsyncIterable<Uint8Array> {
    const idle = new IdleDeadline(this.#idleMs, `docker save of "${reference}"`);
    let response: IncomingMessage;
    try {
      response = await this.#http.download(`/images/${encodeURIComponent(reference)}/get`, idle.signal);
    } catch (error) {
      idle.stop();
      if (statusOf(error) === HTTP.notFound)
        throw new ImageUnavailableError(reference, `image "${reference}" is not on this engine`, {
          cause: error,
        });
      throw requestFailed(this.#connection, `cannot save image "${reference}"`, idle.reason(error));
    }
    try {
      for await (const chunk of response) {
        idle.progressed();
        yield chunk as Uint8Array;
      }
    } catch (error) {
      throw requestFailed(this.#connection, `cannot save image "${reference}"`, idle.reason(error));
    } finally {
      idle.stop();
      response.destroy();
    }
  }

  async load(tar: AsyncIterable<Uint8Array>): Promise<void> {
    const idle = new IdleDeadline(this.#idleMs, "docker load");
    const watched = async function* () {
      for await (const chunk of tar) {
        idle.progressed();
        yield chunk;
      }
    };
    let answer: string;
    try {
      answer = await this.#http.upload("/images/load?quiet=1", "application/x-tar", watched(), idle.signal);
    } catch (error) {
      throw idle.signal.aborted
        ? idle.reason(error)
        : new TreescaleError("IMAGE_LOAD_FAILED", `docker load failed: ${errorMessage(error)}`, {
            cause: error,
          });
    } finally {
      idle.stop();
    }
    // The engine answers 200 and reports a failed load inside the stream.
    for (const line of answer.split("\n")) {
      if (!line.trim()) continue;
      const parsed = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      const failure = parsed.errorDetail?.message ?? parsed.error;
      if (failure) throw new TreescaleError("IMAGE_LOAD_FAILED", `docker load failed: ${failure}`);
    }
  }
}

/**
 * `repo:tag` of a reference (`latest` when it names no tag), as the engine's tag call takes it; undefined
 * for an image ID or a digest reference, which no tag call can give.
 */
export function repositoryAndTag(reference: string): { repo: string; tag: string } | undefined {
  if (reference.includes("@") || /^(sha256:)?[0-9a-f]{64}$/.test(reference)) return undefined;
  // A colon after the last slash separates the tag; one before it is a registry's port.
  const colon = reference.lastIndexOf(":");
  return colon > reference.lastIndexOf("/")
    ? { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) }
    : { repo: reference, tag: "latest" };
}

/** Aborts when nothing moved for `ms`; the reason names what stalled. */
class IdleDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly ms: number,
    readonly what: string,
  ) {
    this.#timer = setTimeout(() => this.#controller.abort(), ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  progressed(): void {
    this.#timer.refresh();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The error to report: a timeout when the deadline fired, else the error as it came. */
  reason(error: unknown): unknown {
    return this.#controller.signal.aborted
      ? new TreescaleError("ENGINE_TIMEOUT", `${this.what}: the engine moved no data for ${this.ms} ms`, {
          cause: error,
        })
      : error;
  }
}
