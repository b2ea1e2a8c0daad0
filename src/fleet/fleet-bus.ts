// The part of the bus a fleet operation needs, over the client library (a remote node, or the
// embedded node, which is reached the same way).
import type { BusClient } from "../bus/client/client.js";
import { BusError, RequestHandlerError } from "../bus/client/errors.js";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/frames.js";

export interface FleetBus {
  /** The replies gathered within the time; a target nobody answers for gives none (never an error). */
  requestMany(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs: number,
    max?: number,
    /** Stops waiting once the replies so far are all that is needed. */
    enough?: (replies: readonly Message[]) => boolean,
  ): Promise<Message[]>;
  /**
   * Delivers every message of these events until the returned function is called; `channels` joins
   * channels too, for events published to one (a log stream's).
   */
  listen(
    events: string[],
    handler: (message: Message) => void,
    channels?: readonly string[],
  ): Promise<() => void>;
  close(): Promise<void>;
}

export function clientFleetBus(client: BusClient): FleetBus {
  // Why the connection ended, when it did by itself: what a later request's failure should say.
  let lost: BusError | undefined;
  // Listeners add to one declaration (a watch's drift listener outlives each apply's progress one).
  const declaredEvents = new Set<string>();
  const declaredChannels = new Set<string>();
  void client.closed.then((reason) => {
    lost = reason;
  });
  return {
    requestMany: async (event, target, payload, timeoutMs, max, enough) => {
      try {
        return await client.requestMany(event, target, payload, timeoutMs, max, enough);
      } catch (error) {
        // A node that is not (or no longer) in the tree is one that did not answer: the caller
        // reports it as unreachable, it does not end the whole operation.
        if (error instanceof BusError && error.code === "no_responders") return [];
        // The node this client is connected to refused the request for its token: say which permission
        // is missing, not that a handler failed.
        if (error instanceof RequestHandlerError && error.handlerCode === "forbidden")
          throw new BusError("forbidden", `${error.handlerMessage} (refused by node ${error.responder})`, {
            cause: error,
          });
        if (lost)
          throw new BusError(lost.code, `the connection to ${client.node} was lost: ${lost.message}`, {
            cause: lost,
          });
        throw error;
      }
    },
    listen: async (events, handler, channels) => {
      for (const event of events) declaredEvents.add(event);
      for (const channel of channels ?? []) declaredChannels.add(channel);
      await client.subscribe({ events: [...declaredEvents], channels: [...declaredChannels] });
      const wanted = new Set(events);
      return client.onMessage((message) => {
        if (wanted.has(message.event)) handler(message);
      });
    },
    close: () => client.close(),
  };
}
