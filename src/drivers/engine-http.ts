// A minimal read-only Engine API client on node:http: the read path (ping, list, inspect)
// answers a no-op apply without loading dockerode, whose import alone costs more than the calls.
// Failures carry the same fields docker-modem attaches (code, statusCode, json), so one set of
// error rules in the driver reads both.

import { readFileSync } from "node:fs";
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { DockerConnection } from "./docker-mapping.js";

/** An HTTP answer of 400 or more, shaped as docker-modem shapes it. */
// Shaped as docker-modem's errors and never leaves the driver: docker.ts turns it into a typed
// error (it passes TreescaleErrors through untouched, so this must not be one).
export class EngineHttpError extends Error {
  readonly statusCode: number;
  readonly json: unknown;
  constructor(statusCode: number, json: unknown, body: string) {
    super(`(HTTP code ${statusCode}) ${body.trim()}`);
    this.name = "EngineHttpError";
    this.statusCode = statusCode;
    this.json = json;
  }
}

type TlsMaterial = { ca: Buffer; cert: Buffer; key: Buffer };

export class EngineHttpClient {
  readonly #connection: DockerConnection;
  readonly #certPath: string | undefined;
  #tls: TlsMaterial | undefined;

  /** certPath: DOCKER_CERT_PATH as docker-modem reads it (ca.pem, cert.pem, key.pem). */
  constructor(connection: DockerConnection, certPath: string | undefined) {
    this.#connection = connection;
    this.#certPath = certPath;
  }

  /**
   * GET a path; resolves with the parsed JSON body (or the text when it is not JSON).
   * The signal ends the request and closes its connection; deadlines are the caller's (see deadline.ts).
   */
  get(path: string, query: Record<string, unknown> = {}, signal?: AbortSignal): Promise<unknown> {
    return this.#send("GET", path, query, signal);
  }

  /** POST a path with no body (the engine takes such calls' arguments in the query); as get(). */
  post(path: string, query: Record<string, unknown> = {}, signal?: AbortSignal): Promise<unknown> {
    return this.#send("POST", path, query, signal);
  }

  #send(
    method: "GET" | "POST",
    path: string,
    query: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) search.set(key, typeof value === "string" ? value : JSON.stringify(value));
    }
    const suffix = search.size > 0 ? `?${search.toString()}` : "";
    return new Promise((resolve, reject) => {
      const options: RequestOptions = { method, path: `${path}${suffix}` };
      if (signal !== undefined) options.signal = signal;
      const req = this.#request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          const parsed = parseBody(body, res.headers["content-type"]);
          const status = res.statusCode ?? 0;
          if (status >= 400) reject(new EngineHttpError(status, parsed, body));
          else resolve(parsed);
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  /**
   * A streaming GET of newline-delimited JSON (the engine's /events): each line to `onLine`
   * until the returned function is called; `onEnd` once when the stream breaks or ends.
   * A stream may stay quiet for hours, so only the wait for the answer's headers has a deadline:
   * when it passes, the request is dropped and `onEnd` gets `connect.timedOut()`.
   */
  stream(
    path: string,
    onLine: (line: string) => void,
    onEnd: (error?: unknown) => void,
    connect: { timeoutMs: number; timedOut: () => Error },
  ): () => void {
    let ended = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const end = (error?: unknown) => {
      clearTimeout(connectTimer);
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    let req: ClientRequest;
    try {
      req = this.#request({ method: "GET", path }, (res) => {
        clearTimeout(connectTimer);
        if (res.statusCode !== 200) {
          res.resume();
          end(new EngineHttpError(res.statusCode ?? 0, undefined, `GET ${path} answered ${res.statusCode}`));
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let newline = buffered.indexOf("\n");
          while (newline >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
            if (line) onLine(line);
          }
        });
        res.on("end", () => end());
        res.on("error", end);
      });
    } catch (error) {
      // Unreadable TLS material (DOCKER_CERT_PATH) ends the stream like any other failure.
      queueMicrotask(() => end(error));
      return () => {
        ended = true;
      };
    }
    req.on("error", end);
    req.end();
    connectTimer = setTimeout(() => {
      end(connect.timedOut());
      req.destroy();
    }, connect.timeoutMs);
    return () => {
      clearTimeout(connectTimer);
      ended = true;
      req.destroy();
    };
  }

  /**
   * A streaming POST: each chunk of `body` is written as it comes, with the socket's back-pressure, and
   * the request is destroyed (the engine sees the body cut short, never complete) when `body` throws or
   * the signal fires. Resolves with the answer's text.
   */
  upload(
    path: string,
    contentType: string,
    body: AsyncIterable<Uint8Array>,
    signal: AbortSignal,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = this.#request(
        { method: "POST", path, headers: { "Content-Type": contentType }, signal },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status >= 400) reject(new EngineHttpError(status, parseBody(text, "json"), text));
            else resolve(text);
          });
        },
      );
      req.on("error", reject);
      void (async () => {
        try {
          for await (const chunk of body) {
            if (!req.write(chunk)) await new Promise((drained) => req.once("drain", drained));
          }
          req.end();
        } catch (error) {
          req.destroy(error as Error);
        }
      })();
    });
  }

  /** A streaming GET: the answer's body as it arrives (status checked first). */
  download(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.#request({ method: "GET", path, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 400) {
          resolve(res);
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          reject(new EngineHttpError(status, parseBody(text, "json"), text));
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  #request(options: RequestOptions, onResponse: (res: IncomingMessage) => void) {
    const connection = this.#connection;
    // No keep-alive agent: a CLI run makes a handful of reads, and an idle socket would hold the process open.
    if (connection.kind === "socket") {
      return httpRequest({ ...options, socketPath: connection.socketPath, agent: false }, onResponse);
    }
    const target = { ...options, host: connection.host, port: connection.port, agent: false };
    if (connection.protocol === "http") return httpRequest(target, onResponse);
    return httpsRequest({ ...target, ...this.#tlsMaterial() }, onResponse);
  }

  #tlsMaterial(): Partial<TlsMaterial> {
    if (this.#certPath === undefined) return {};
    this.#tls ??= {
      ca: readFileSync(join(this.#certPath, "ca.pem")),
      cert: readFileSync(join(this.#certPath, "cert.pem")),
      key: readFileSync(join(this.#certPath, "key.pem")),
    };
    return this.#tls;
  }
}

function parseBody(body: string, contentType: string | undefined): unknown {
  if (!contentType?.includes("json")) return body;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
