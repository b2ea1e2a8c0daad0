// How the bus verbs reach a node: --node/--token/--ca/--connect-timeout (or the environment), every
// scheme (tcp://, tls://, ws://, wss://), one deadline for each wait, and failures worded as something
// the user can fix with a flag.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import {
  BusClient,
  BusError,
  BusTimeoutError,
  type ClientOptions,
  type WebSocketConstructor,
} from "../bus/client/index.js";
import { TreescaleError, UsageError } from "../errors.js";
import { chosenContext } from "../state/contexts.js";
import { treescaleHome } from "../state/stack-files.js";
import { wholeNumber } from "./flag-values.js";

/**
 * Default of --connect-timeout: a person waits at the terminal, so a node that does not answer is
 * reported after seconds, not after the library's 10 s per phase.
 */
export const DEFAULT_CLI_DEADLINE_SECONDS = 5;

export interface ConnectionFlags {
  node?: string | undefined;
  token?: string | undefined;
  /** --ca: the PEM file of the CA that signed the node's certificate (tls://, wss://). */
  ca?: string | undefined;
  /** --connect-timeout, in seconds. */
  connectTimeout?: number | undefined;
  /** --context: a tree recorded by `treescale build` (default $TREESCALE_CONTEXT, else the current one). */
  context?: string | undefined;
}

/** Where a verb connects, and how: what the flags say, with the environment as defaults. */
export interface Endpoint {
  url: string;
  token: string | undefined;
  /** Path of the CA file (--ca, else $TREESCALE_CA). */
  caFile: string | undefined;
  /** Longest wait for each step: the connection, READY, a confirmed subscription, a flush. */
  deadlineMs: number;
}

/** --ca and --connect-timeout, for a verb that takes --node: every way of reaching a node needs them. */
export function addConnectionOptions(command: Command): Command {
  return command
    .option(
      "--ca <file>",
      "PEM file of the CA that signed the node's certificate, for tls:// and wss:// (default $TREESCALE_CA)",
    )
    .option(
      "--context <name>",
      "a tree recorded by treescale build, when no --node is given (default $TREESCALE_CONTEXT, else the current context)",
    )
    .option(
      "--connect-timeout <seconds>",
      "longest wait for the node to accept, answer READY, confirm a subscription or take what was sent",
      wholeNumber("--connect-timeout", 1),
      DEFAULT_CLI_DEADLINE_SECONDS,
    );
}

/** The tree a verb that needs one talks to (see treeEndpoint); a usage error when there is none. */
export async function requiredTreeEndpoint(flags: ConnectionFlags): Promise<Endpoint> {
  const endpoint = await treeEndpoint(flags);
  if (!endpoint)
    throw new UsageError(
      "--node is required (or set TREESCALE_NODE, or use a tree recorded by treescale build: --context), for example --node 127.0.0.1:7000",
    );
  return endpoint;
}

/**
 * The node a verb talks to when it may also run the embedded one: --node/$TREESCALE_NODE, else the tree
 * recorded by `treescale build` (--context, $TREESCALE_CONTEXT or the current one, with its token and
 * CA); undefined when there is neither, for the embedded node.
 */
export async function treeEndpoint(flags: ConnectionFlags): Promise<Endpoint | undefined> {
  const named = flags.node ?? process.env.TREESCALE_NODE;
  const context = named
    ? undefined
    : await chosenContext(treescaleHome(), flags.context ?? (process.env.TREESCALE_CONTEXT || undefined));
  const url = named ?? context?.node;
  if (!url) return undefined;
  const settings = endpointSettings(flags);
  return {
    ...settings,
    url,
    token: flags.token ?? process.env.TREESCALE_TOKEN ?? context?.token,
    // A tree built with TLS is trusted through the CA its build made, unless --ca / $TREESCALE_CA says otherwise.
    caFile: settings.caFile ?? context?.ca,
  };
}

/** The CA and deadline of a connection, whichever node it goes to. */
export function endpointSettings(flags: ConnectionFlags): Pick<Endpoint, "caFile" | "deadlineMs"> {
  const caFile = flags.ca ?? (process.env.TREESCALE_CA || undefined);
  return { caFile, deadlineMs: (flags.connectTimeout ?? DEFAULT_CLI_DEADLINE_SECONDS) * 1000 };
}

/** What a verb adds to its endpoint: declarations, reconnecting. */
export type ClientSettings = Omit<ClientOptions, "url" | "token" | "tls" | "webSocket">;

/** Connects under the endpoint's deadline; failures the user can fix are reported as such. */
export async function connectClient(endpoint: Endpoint, settings: ClientSettings = {}): Promise<BusClient> {
  const ca = endpoint.caFile === undefined ? undefined : await readCa(endpoint.caFile);
  const options: ClientOptions = {
    connectTimeoutMs: endpoint.deadlineMs,
    handshakeTimeoutMs: endpoint.deadlineMs,
    subscribeTimeoutMs: endpoint.deadlineMs,
    flushTimeoutMs: endpoint.deadlineMs,
    ...settings,
    url: endpoint.url,
    token: endpoint.token,
  };
  // Only tls:// takes TLS options: the client would otherwise speak TLS to a tcp:// node.
  if (ca !== undefined && endpoint.url.startsWith("tls://")) options.tls = { ca };
  // Node 20 has no global WebSocket: ws's, which also takes the CA the way node:tls does.
  if (/^wss?:\/\//.test(endpoint.url)) options.webSocket = await webSocketTrusting(ca);
  try {
    return await BusClient.connect(options);
  } catch (error) {
    throw connectionError(endpoint.url, error);
  }
}

async function readCa(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`--ca: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

async function webSocketTrusting(ca: string | undefined): Promise<WebSocketConstructor> {
  const { WebSocket } = await import("ws");
  class TrustingWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, ca === undefined ? {} : { ca });
    }
  }
  // ws's event typings are narrower than the structural WHATWG subset the client needs.
  return TrustingWebSocket as unknown as WebSocketConstructor;
}

/** What the user waited for, per step, in the words of the CLI. */
const WAITED_FOR = {
  connect: "a connection",
  handshake: "READY (the node's answer to CONNECT)",
  subscribe: "READY confirming the subscription",
  flush: "the node to take what was sent",
  confirm: "the node to confirm what was sent",
} as const;

/** A failure to connect in the CLI's terms: the flag to change, not the library option. */
export function connectionError(url: string, error: unknown): TreescaleError {
  if (error instanceof TreescaleError && !(error instanceof BusError)) return error;
  if (error instanceof BusError && error.code === "bad_url") return new UsageError(error.message);
  if (error instanceof BusTimeoutError) {
    return new BusCliError(
      `no answer from the node at ${url}: waited ${error.timeoutMs / 1000} s for ${WAITED_FOR[error.phase]} ` +
        `(${error.code}); check --node (a TreeScale node's bus port, tls:// or wss:// when it runs TLS) and ` +
        "that it is up; raise --connect-timeout on a slow network",
      error,
    );
  }
  if (error instanceof BusError && error.code === "not_a_node") return new BusCliError(error.message, error);
  if (error instanceof BusError && /Unexpected server response/.test(error.message)) {
    return new BusCliError(
      `the server at ${url} is not a TreeScale node: ${error.message}; ws:// and wss:// go to a node's HTTP ` +
        "port (treescale node --http)",
      error,
    );
  }
  if (error instanceof BusError && /^wss:/.test(url) && /certificate/i.test(error.message)) {
    return new BusCliError(
      `cannot trust the node at ${url}: ${error.message}; pass the CA that signed its certificate with --ca ` +
        "FILE (or $TREESCALE_CA)",
      error,
    );
  }
  if (error instanceof BusError && error.code === "tls_untrusted") {
    const fix = /ALTNAME/.test(error.message)
      ? "connect by a name or address its certificate lists"
      : "pass the CA that signed its certificate with --ca FILE (or $TREESCALE_CA)";
    return new BusCliError(`cannot trust the node at ${url}: ${tlsReason(error)}; ${fix}`, error);
  }
  // Connected, then refused what was sent: "cannot connect" would send the user after the wrong fix.
  if (error instanceof BusError && error.code === "forbidden") {
    return new BusCliError(`the node at ${url} refused: forbidden: ${error.message}`, error);
  }
  const reason = error instanceof BusError ? `${error.code}: ${error.message}` : (error as Error).message;
  return new BusCliError(`cannot connect to ${url}: ${reason}`, error);
}

/** The verifier's own words (and code) from a tls_untrusted error, without the library's advice. */
function tlsReason(error: BusError): string {
  const cause = error.cause as { message?: unknown; code?: unknown } | undefined;
  const message = typeof cause?.message === "string" ? cause.message : error.message;
  return typeof cause?.code === "string" ? `${message} (${cause.code})` : message;
}

export class BusCliError extends TreescaleError {
  constructor(message: string, cause: unknown) {
    super("BUS", message, { cause });
  }
}
