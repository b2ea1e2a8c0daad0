// The part of the bus a fleet operation needs, over a remote node (client library) or the
// in-process embedded node alike.
import type { BusClient } from "../bus/client/client.js";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/frames.js";
import type { TreeNode } from "../node/tree-node.js";

export interface FleetBus {
  requestMany(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs: number,
    max?: number,
  ): Promise<Message[]>;
  /** Delivers every message of these events until the returned function is called. */
  listen(events: string[], handler: (message: Message) => void): Promise<() => void>;
  close(): Promise<void>;
}

export function clientFleetBus(client: BusClient): FleetBus {
  return {
    requestMany: (event, target, payload, timeoutMs, max) =>
      client.requestMany(event, target, payload, timeoutMs, max),
    listen: async (events, handler) => {
      await client.subscribe({ events });
      const wanted = new Set(events);
      return client.onMessage((message) => {
        if (wanted.has(message.event)) handler(message);
      });
    },
    close: () => client.close(),
  };
}

export function nodeFleetBus(node: TreeNode): FleetBus {
  return {
    requestMany: (event, target, payload, timeoutMs, max) =>
      node.requestMany(event, target, payload, timeoutMs, max),
    listen: async (events, handler) => {
      const stops = events.map((event) => node.subscribe(event, handler));
      return () => {
        for (const stop of stops) stop();
      };
    },
    close: async () => undefined,
  };
}
