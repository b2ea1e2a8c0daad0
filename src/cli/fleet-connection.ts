// Where fleet verbs talk to: a remote node named by --node / $TREESCALE_NODE, or, without one,
// the embedded node — an in-process node with its agent on this machine's engine.

import { TreescaleError } from "../errors.js";
import { clientFleetBus, type FleetBus } from "../fleet/fleet-bus.js";
import type { DesiredState } from "../model/resources.js";
import {
  claimEmbeddedEndpoint,
  discardEmbeddedEndpoint,
  findEmbeddedEndpoint,
  forgetEmbeddedEndpoint,
  newEmbeddedToken,
  publishEmbeddedEndpoint,
} from "../node/embedded-endpoint.js";
import { NodeDaemon } from "../node/node-daemon.js";
import type { Controller, NodeController } from "../reconcile/controller.js";
import { treescaleHome } from "../state/stack-files.js";
import {
  type ConnectionFlags as BusConnectionFlags,
  connectClient,
  endpointSettings,
  treeEndpoint,
} from "./bus-connection.js";
import { checkNodeName } from "./shared-options.js";

/** What a verb's flags say about where to go; unset --node/--token/--ca fall back to the environment. */
export type ConnectionFlags = BusConnectionFlags & {
  name: string;
  heal?: boolean;
  /** The verb only looks (diff, get, a dry run): an embedded node started for it never acts. */
  readOnly?: boolean;
};

export type FleetConnection = {
  bus: FleetBus;
  /** The embedded node's name, when that is where this connection goes. */
  embedded: string | undefined;
  /** The manifests as this connection sees the fleet: the embedded node is the whole tree. */
  view(desired: DesiredState): DesiredState;
  /**
   * Stops the embedded node this process runs (its actions under way end or are aborted), the
   * bus staying open; absent when the node lives elsewhere (a tree, or a `watch` that runs it).
   */
  stopNode?: () => Promise<void>;
  close(): Promise<void>;
};

/** The kinds an embedded node started here runs (made only when one is started). */
export type EmbeddedKinds = () => Controller[];

export async function openFleet(
  flags: ConnectionFlags,
  kinds: EmbeddedKinds,
  retried = false,
): Promise<FleetConnection> {
  // Without --node, a tree recorded by `treescale build` (named, or the current one) before the embedded node.
  let endpoint = await treeEndpoint(flags);
  let embedded: EmbeddedNode | undefined;
  if (!endpoint) {
    embedded = await openEmbeddedNode(checkNodeName(flags.name), {
      heal: flags.heal ?? true,
      readOnly: flags.readOnly ?? false,
      kinds,
    });
    const { deadlineMs } = endpointSettings(flags);
    endpoint = { url: embedded.url, token: embedded.token, caFile: undefined, deadlineMs };
  }
  let client: Awaited<ReturnType<typeof connectClient>>;
  try {
    client = await connectClient(endpoint, { reconnect: false });
  } catch (error) {
    await embedded?.close();
    // A joined embedded node that does not answer left a stale record (its pid now someone else's).
    if (embedded?.joined && !retried) {
      await embedded.discard();
      return openFleet(flags, kinds, true);
    }
    throw error;
  }
  const bus = clientFleetBus(client);
  return {
    bus,
    embedded: embedded ? flags.name : undefined,
    view: (desired) => (embedded ? embeddedView(desired, flags.name) : desired),
    ...(embedded && !embedded.joined ? { stopNode: () => embedded.close() } : {}),
    close: async () => {
      await bus.close();
      await embedded?.close();
    },
  };
}

export type EmbeddedNode = {
  url: string;
  token: string;
  /** Joined another process's node rather than started one here. */
  joined: boolean;
  close(): Promise<void>;
  /** Forgets a joined node's record: for when it turns out not to answer. */
  discard(): Promise<void>;
};

export type EmbeddedOptions = { heal: boolean; readOnly: boolean; kinds: EmbeddedKinds };

/**
 * The embedded node: joined when another process (a `watch`, say) already runs it, so no rival
 * agent starts; otherwise started in this process, token-protected, until close(). A read-only
 * one is private to this process: it never acts, so it is neither a rival nor one to join.
 */
export async function openEmbeddedNode(
  name: string,
  options: EmbeddedOptions,
  attempt = 0,
): Promise<EmbeddedNode> {
  const home = treescaleHome();
  const running = await findEmbeddedEndpoint(home, name);
  if (running) {
    return {
      url: running.url,
      token: running.token,
      joined: true,
      close: async () => undefined,
      discard: () => discardEmbeddedEndpoint(home, running),
    };
  }
  const token = newEmbeddedToken();
  if (options.readOnly) return startEmbedded(name, home, token, options, false);
  // Claim the name before starting, so two processes never run rival agents for one node.
  if (!(await claimEmbeddedEndpoint(home, { node: name, url: "", token, pid: process.pid }))) {
    if (attempt >= 2) {
      throw new TreescaleError(
        "EMBEDDED_BUSY",
        `the embedded node "${name}" is being started by another process that has not finished; try again, or remove ${home}/nodes/${name}/endpoint.json if that process is gone`,
      );
    }
    return openEmbeddedNode(name, options, attempt + 1);
  }
  return startEmbedded(name, home, token, options, true);
}

async function startEmbedded(
  name: string,
  home: string,
  token: string,
  options: EmbeddedOptions,
  published: boolean,
): Promise<EmbeddedNode> {
  const daemon = new NodeDaemon({
    name,
    listen: { host: "127.0.0.1", port: 0 },
    tokens: new Set([token]),
    home,
    heal: options.heal,
    readOnly: options.readOnly,
    controllers: options.kinds().filter((kind): kind is NodeController => kind.scope === "node"),
  });
  try {
    await daemon.start();
  } catch (error) {
    if (published) await forgetEmbeddedEndpoint(home, name);
    throw error;
  }
  const url = daemon.node.describe().listen;
  if (published) await publishEmbeddedEndpoint(home, { node: name, url, token, pid: process.pid });
  // Stopped once, however often asked: an interrupted apply stops it before the connection closes.
  let stopping: Promise<void> | undefined;
  return {
    url,
    token,
    joined: false,
    discard: async () => undefined,
    close: () => {
      stopping ??= (async () => {
        if (published) await forgetEmbeddedEndpoint(home, name);
        await daemon.stop();
      })();
      return stopping;
    },
  };
}

/** The tree reduced to the embedded node: it keeps its declared tags, other servers are ignored. */
function embeddedView(desired: DesiredState, name: string): DesiredState {
  const declared = desired.servers[name];
  const local = {
    name,
    ip: "127.0.0.1",
    servicePort: 0,
    tags: declared?.tags ?? [],
    groups: declared?.groups ?? [],
    childs: [],
  };
  return { ...desired, servers: { [name]: local } };
}
