// Where fleet verbs talk to: a remote node named by --node / $TREESCALE_NODE, or, without one,
// the embedded node — an in-process node with its agent on this machine's engine.

import { clientFleetBus, type FleetBus, nodeFleetBus } from "../fleet/fleet-bus.js";
import type { DesiredState } from "../model/resources.js";
import {
  findEmbeddedEndpoint,
  forgetEmbeddedEndpoint,
  newEmbeddedToken,
  recordEmbeddedEndpoint,
} from "../node/embedded-endpoint.js";
import { NodeDaemon } from "../node/node-daemon.js";
import { treescaleHome } from "../state/last-applied.js";
import { connectClient } from "./events.js";

export type ConnectionFlags = { node?: string; token?: string; name: string; heal?: boolean };

export type FleetConnection = {
  bus: FleetBus;
  embedded: boolean;
  /** The manifests as this connection sees the fleet: the embedded node is the whole tree. */
  view(desired: DesiredState): DesiredState;
  close(): Promise<void>;
};

export async function openFleet(flags: ConnectionFlags): Promise<FleetConnection> {
  const url = flags.node ?? process.env.TREESCALE_NODE;
  if (url) {
    const client = await connectClient({
      url,
      token: flags.token ?? process.env.TREESCALE_TOKEN,
      reconnect: false,
    });
    const bus = clientFleetBus(client);
    return { bus, embedded: false, view: (desired) => desired, close: () => bus.close() };
  }
  const home = treescaleHome();
  const running = await findEmbeddedEndpoint(home, flags.name);
  if (running) {
    // Another process (a `watch`, say) runs the embedded node: join it rather than start a rival agent.
    const client = await connectClient({ url: running.url, token: running.token, reconnect: false });
    const bus = clientFleetBus(client);
    return {
      bus,
      embedded: true,
      view: (desired) => embeddedView(desired, flags.name),
      close: () => bus.close(),
    };
  }
  const token = newEmbeddedToken();
  const daemon = new NodeDaemon({
    name: flags.name,
    listen: { host: "127.0.0.1", port: 0 },
    tokens: new Set([token]),
    home,
    heal: flags.heal ?? true,
    agent: true,
  });
  await daemon.start();
  await recordEmbeddedEndpoint(home, {
    node: flags.name,
    url: daemon.node.describe().listen,
    token,
    pid: process.pid,
  });
  return {
    bus: nodeFleetBus(daemon.node),
    embedded: true,
    view: (desired) => embeddedView(desired, flags.name),
    close: async () => {
      await forgetEmbeddedEndpoint(home, flags.name);
      await daemon.stop();
    },
  };
}

/** The tree reduced to the embedded node: it keeps its declared tags, other servers are ignored. */
export function embeddedView(desired: DesiredState, name: string): DesiredState {
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
