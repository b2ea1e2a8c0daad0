// `treescale node`: run one node of the tree. Flags map onto TreeNodeOptions; the class does the work.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import {
  type BusLimits,
  DEFAULT_LIMITS,
  type Logger,
  loadTokenFile,
  type TokenTable,
} from "../bus/server/index.js";
import { DockerImages } from "../drivers/docker-images.js";
import { UsageError } from "../errors.js";
import type { BuildIdentity } from "../model/build-identity.js";
import type { ImageSource } from "../model/resources.js";
import { type HostPort, parseHostPort } from "../node/address.js";
import { buildIdentity } from "../node/build-identity.js";
import { dashboardDirectory, loadDashboard } from "../node/dashboard.js";
import { normalizeOrigin } from "../node/http.js";
import { NodeDaemon } from "../node/node-daemon.js";
import { loadSeedNode } from "../node/seed-config.js";
import { reloadTokensOnChange } from "../node/token-reload.js";
import type { TreeNodeOptions } from "../node/tree-node.js";
import type { NodeController } from "../reconcile/controller.js";
import { treescaleHome } from "../state/stack-files.js";
import { collect, wholeNumber } from "./flag-values.js";
import type { Kinds } from "./kinds.js";
import { nextStopSignal } from "./stop-signal.js";

interface NodeFlags {
  insecure?: boolean;
  name?: string;
  config?: string;
  listen?: string;
  http?: string;
  parent?: string;
  tag: string[];
  tokens?: string;
  authHook?: string;
  authHookTimeout: string;
  clusterSecret?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  heartbeat: string;
  maxFrame: string;
  maxPending: string;
  // Bus limits: commander fills in the defaults; callers that build flags by hand may leave them out.
  handshakeTimeout?: string;
  maxHandshakeFrame?: string;
  maxHandshakes?: string;
  maxHandshakesPerAddress?: string;
  maxDeclaredNames?: string;
  maxDeclaredKeys?: string;
  allowOrigin?: string[];
  agent?: boolean;
  heal: boolean;
  home?: string;
  resync: string;
  stopTimeout: string;
  parallel: string;
  imageSource?: string;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** Flags are kept as text until here, so seed-file defaults and command-line values are checked alike. */
function positiveInteger(text: string, flag: string): number {
  return wholeNumber(flag, 1)(text);
}

async function readFlagFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** The bus limits given as flags; those left out keep their defaults. */
function busLimits(flags: NodeFlags): Partial<BusLimits> {
  const limits: Partial<BusLimits> = {};
  const set = (key: keyof BusLimits, text: string | undefined, flag: string) => {
    if (text !== undefined) limits[key] = positiveInteger(text, flag);
  };
  set("handshakeTimeoutMs", flags.handshakeTimeout, "--handshake-timeout");
  set("handshakeFrameBytes", flags.maxHandshakeFrame, "--max-handshake-frame");
  set("pendingConnections", flags.maxHandshakes, "--max-handshakes");
  set("pendingPerAddress", flags.maxHandshakesPerAddress, "--max-handshakes-per-address");
  set("declaredNames", flags.maxDeclaredNames, "--max-declared-names");
  set("declaredKeys", flags.maxDeclaredKeys, "--max-declared-keys");
  return limits;
}

/** An --allow-origin value: "*" or scheme://host[:port], as browsers send it in Origin. */
function allowedOrigin(text: string): string {
  if (text === "*") return text;
  const origin = normalizeOrigin(text);
  if (!origin || !/^https?:\/\//.test(origin)) {
    throw new UsageError(`--allow-origin ${text}: give an origin such as https://app.example.com:8443, or *`);
  }
  return origin;
}

const logLine: Logger = (level, message, fields = {}) => {
  const extra = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === "string" ? JSON.stringify(value) : String(value)}`)
    .join(" ");
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${extra ? ` ${extra}` : ""}\n`);
};

/** The token file; a plain one (each token may do everything) is said once, at start. */
async function loadTokens(path: string): Promise<TokenTable> {
  const file = await loadTokenFile(path);
  if (file.format === "plain" && file.tokens.size > 0) {
    logLine("info", "plain tokens are unrestricted", {
      file: path,
      tokens: file.tokens.size,
      hint: "each may apply slices and re-parent nodes; give permissions with a TOML token file (README: Tokens and permissions)",
    });
  }
  return file.tokens;
}

/** The node's default image_source: --image-source, else its server's `image_source` in --config. */
async function imageSourceOf(flags: NodeFlags): Promise<{ imageSource?: ImageSource }> {
  const given = flags.imageSource;
  if (given !== undefined) {
    if (given !== "registry" && given !== "tree")
      throw new UsageError(`--image-source ${JSON.stringify(given)}: use registry or tree`);
    return { imageSource: given };
  }
  const seed = flags.config ? await loadSeedNode(flags.config, flags.name) : undefined;
  return seed?.imageSource ? { imageSource: seed.imageSource } : {};
}

export async function nodeOptionsFromFlags(flags: NodeFlags): Promise<TreeNodeOptions> {
  let name = flags.name;
  let listen: HostPort | undefined = flags.listen ? parseHostPort(flags.listen, "--listen") : undefined;
  let parent: HostPort | undefined = flags.parent ? parseHostPort(flags.parent, "--parent") : undefined;
  const tags = [...flags.tag];
  if (flags.config) {
    const seed = await loadSeedNode(flags.config, flags.name);
    name = seed.name;
    listen ??= { host: "0.0.0.0", port: seed.servicePort };
    tags.push(...seed.tags);
    if (!parent && seed.parent) parent = { host: seed.parent.ip, port: seed.parent.servicePort };
  }
  if (!name) throw new UsageError("--name is required (this node's name in the tree)");
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  if (flags.tlsCa && !flags.tlsCert) throw new UsageError("--tls-ca needs --tls-cert and --tls-key");
  const options: TreeNodeOptions = {
    name,
    listen: listen ?? { host: "127.0.0.1", port: 7000 },
    http: flags.http ? parseHostPort(flags.http, "--http") : undefined,
    parent,
    parentTls: flags.parent?.startsWith("tls://") ?? false,
    tags: [...new Set(tags)],
    tokens: flags.tokens ? await loadTokens(flags.tokens) : undefined,
    authHook: flags.authHook,
    authHookTimeoutMs: positiveInteger(flags.authHookTimeout, "--auth-hook-timeout"),
    clusterSecret: flags.clusterSecret
      ? Buffer.from((await readFlagFile(flags.clusterSecret, "--cluster-secret")).trim(), "utf8")
      : undefined,
    tls:
      flags.tlsCert && flags.tlsKey
        ? {
            cert: await readFlagFile(flags.tlsCert, "--tls-cert"),
            key: await readFlagFile(flags.tlsKey, "--tls-key"),
            ca: flags.tlsCa ? await readFlagFile(flags.tlsCa, "--tls-ca") : undefined,
          }
        : undefined,
    heartbeatMs: positiveInteger(flags.heartbeat, "--heartbeat"),
    maxFrameBytes: positiveInteger(flags.maxFrame, "--max-frame"),
    maxPendingBytes: positiveInteger(flags.maxPending, "--max-pending"),
    limits: busLimits(flags),
    allowOrigins: (flags.allowOrigin ?? []).map((origin) => allowedOrigin(origin)),
    dashboard: flags.http ? await loadDashboard(await dashboardDirectory()) : undefined,
    log: logLine,
  };
  if (options.clusterSecret?.length === 0) throw new UsageError("--cluster-secret file is empty");
  // Anyone who can connect can send this node slices to run (images, bind mounts): off loopback,
  // an open node is refused unless asked for explicitly.
  const exposed = [options.listen, options.http].some((at) => at !== undefined && !isLoopback(at.host));
  const open = !options.tokens && !options.authHook && !flags.insecure;
  if (exposed && open) {
    throw new UsageError(
      "this node would accept anyone on a non-loopback address: give --tokens FILE or --auth-hook URL (or --insecure to accept that)",
    );
  }
  // On loopback too: every local user and process (and, over HTTP, a page a browser opened) can
  // connect, and an agent runs whatever slice it is sent.
  if (open && (flags.agent !== false || options.http !== undefined)) {
    throw new UsageError(
      `this node ${flags.agent !== false ? "runs an agent" : "serves HTTP"} and would accept anyone who can connect to it, even on loopback: give --tokens FILE or --auth-hook URL (or --insecure to accept that)`,
    );
  }
  if (flags.authHook && !/^https?:\/\//.test(flags.authHook))
    throw new UsageError("--auth-hook must be an http(s) URL");
  return options;
}

/** What a node made by `treescale build` reports of it: every file it was started with. */
function buildOf(flags: NodeFlags): { build?: () => Promise<BuildIdentity> } {
  const files = [
    flags.config,
    flags.tokens,
    flags.clusterSecret,
    flags.tlsCert,
    flags.tlsKey,
    flags.tlsCa,
  ].filter((path): path is string => path !== undefined);
  const build = buildIdentity(process.env, files);
  return build ? { build } : {};
}

export function registerNode(program: Command, kinds: Kinds): void {
  program
    .command("node")
    .description("run a node of the tree: bus listener, HTTP health/metrics/WebSocket, link to the parent")
    .option("--name <name>", "this node's name (default: current_node of --config)")
    .option("--config <file>", "seed-format treescale.toml: port, tags and parent of this node")
    .option("--listen <host:port>", "bus listener for clients and child nodes (default 127.0.0.1:7000)")
    .option("--http <host:port>", "HTTP: the dashboard at /, /healthz, /metrics, WebSocket")
    .option("--parent <host:port>", "parent node to join (tls://host:port for TLS)")
    .option("--tag <tag>", "tag of this node (repeatable)", collect, [])
    .option("--tokens <file>", "client tokens: one per line (each may do all), or .toml with permissions")
    .option(
      "--auth-hook <url>",
      'POST {token,node,remote}; accepts on {"status":"success"}, with "allow": [...] to limit',
    )
    .option("--auth-hook-timeout <ms>", "auth hook timeout", "2000")
    .option("--cluster-secret <file>", "shared secret proving node links")
    .option("--tls-cert <file>", "TLS certificate (PEM) for every listener")
    .option("--tls-key <file>", "TLS key (PEM)")
    .option("--tls-ca <file>", "CA (PEM): mutual TLS between nodes")
    .option("--heartbeat <ms>", "heartbeat interval; a link silent for 3 is down", "1000")
    .option("--max-frame <bytes>", "largest frame accepted", String(8 * 1024 * 1024))
    .option(
      "--max-pending <bytes>",
      "output buffer per connection before slow_consumer",
      String(64 * 1024 * 1024),
    )
    .option(
      "--handshake-timeout <ms>",
      "time a new connection has to finish its handshake (CONNECT, DECLARE)",
      String(DEFAULT_LIMITS.handshakeTimeoutMs),
    )
    .option(
      "--max-handshake-frame <bytes>",
      "largest frame before READY, and largest DECLARE",
      String(DEFAULT_LIMITS.handshakeFrameBytes),
    )
    .option(
      "--max-handshakes <n>",
      "connections still in their handshake, in total",
      String(DEFAULT_LIMITS.pendingConnections),
    )
    .option(
      "--max-handshakes-per-address <n>",
      "connections still in their handshake, per source address",
      String(DEFAULT_LIMITS.pendingPerAddress),
    )
    .option(
      "--max-declared-names <n>",
      "events, tags, groups or channels one client may declare (each)",
      String(DEFAULT_LIMITS.declaredNames),
    )
    .option(
      "--max-declared-keys <n>",
      "interest keys one client's declaration may add (events × (1 + memberships))",
      String(DEFAULT_LIMITS.declaredKeys),
    )
    .option(
      "--allow-origin <origin>",
      "origin whose pages may open a WebSocket, besides the node's own; * for any (repeatable)",
      collect,
      [],
    )
    .option(
      "--insecure",
      "accept clients without --tokens or --auth-hook (needed for an agent or --http node, even on loopback, and for any non-loopback address)",
    )
    .option("--agent", "run the agent converging this machine's containers (the default)")
    .option("--no-agent", "run the bus only: no agent converging this machine's containers")
    .option("--no-heal", "report drift, never heal it")
    .option(
      "--home <dir>",
      "where the agent keeps its slice and inventory (default $TREESCALE_HOME or ~/.treescale)",
    )
    .option("--resync <seconds>", "full resync period of the agent, as a safety net", "60")
    .option("--stop-timeout <seconds>", "grace period before the agent kills a container it stops", "10")
    .option("--parallel <n>", "actions in flight at once on this node", "16")
    .option(
      "--image-source <registry|tree>",
      "where containers that do not set image_source get an image this engine lacks (default: the server's image_source in --config, else registry)",
    )
    .action(async (flags: NodeFlags) => {
      const settings = {
        concurrency: positiveInteger(flags.parallel, "--parallel"),
        stopTimeoutSeconds: wholeNumber("--stop-timeout", 0)(flags.stopTimeout),
      };
      const node = new NodeDaemon({
        ...(await nodeOptionsFromFlags(flags)),
        // With both --agent and --no-agent defined, commander leaves the flag unset unless given.
        controllers:
          flags.agent === false
            ? []
            : kinds(settings).filter((kind): kind is NodeController => kind.scope === "node"),
        heal: flags.heal,
        home: flags.home ?? treescaleHome(),
        resyncMs: positiveInteger(flags.resync, "--resync") * 1000,
        ...(await imageSourceOf(flags)),
        // A node with an agent has an engine: it takes part in image pushes and fetches.
        ...(flags.agent === false ? {} : { images: new DockerImages() }),
        ...buildOf(flags),
      });
      // Listened for before starting: a signal during the start still ends in an orderly stop.
      const stopRequested = nextStopSignal();
      await node.start();
      const tokenFile = flags.tokens;
      // Revoking or adding a token needs no restart.
      const stopReloading = tokenFile
        ? await reloadTokensOnChange({
            path: tokenFile,
            apply: (tokens) => node.node.replaceTokens(tokens, tokenFile),
            log: logLine,
          })
        : undefined;
      process.stdout.write(`${JSON.stringify({ event: "listening", ...node.node.describe() })}\n`);
      await stopRequested;
      await stopReloading?.();
      await node.stop();
    });
}
