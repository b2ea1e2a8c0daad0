// The part of the bus a fleet operation needs, over the client library (a remote node, or the
// embedded node, which is reached the same way).
import type { BusClient } from "../bus/client/client.js";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/frames.js";

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
