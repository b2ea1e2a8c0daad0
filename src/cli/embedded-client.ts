// A bus client of the embedded node, for the verbs that only talk on the bus (events, publish): the node is
// joined when another process (a `watch`, an `events`) runs it, else run in this process while the verb lasts.
import type { BusClient } from "../bus/client/index.js";
import {
  type ClientSettings,
  type ConnectionFlags,
  connectClient,
  endpointSettings,
} from "./bus-connection.js";
import type { EmbeddedNode, EmbeddedOptions } from "./fleet-connection.js";
import { checkNodeName } from "./shared-options.js";

/** Connects to the embedded node `name`; a joined record that does not answer is stale: retried once. */
export async function connectEmbeddedClient(
  name: string,
  options: EmbeddedOptions,
  flags: ConnectionFlags,
  settings: ClientSettings,
): Promise<{ client: BusClient; embedded: EmbeddedNode }> {
  const { openEmbeddedNode } = await import("./fleet-connection.js");
  for (let attempt = 0; ; attempt++) {
    const embedded = await openEmbeddedNode(checkNodeName(name), options);
    try {
      const { deadlineMs } = endpointSettings(flags);
      const endpoint = { url: embedded.url, token: embedded.token, caFile: undefined, deadlineMs };
      const client = await connectClient(endpoint, settings);
      return { client, embedded };
    } catch (error) {
      await embedded.close();
      if (!embedded.joined || attempt > 0) throw error;
      await embedded.discard();
    }
  }
}
