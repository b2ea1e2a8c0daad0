// The client's requests in flight: their ids, the replies gathered so far and their timeouts. A REPLY
// from the node settles one here; closing the client ends them all.
import { createMessage, type Message } from "../message.js";
import { decodeRoute, FrameFlag, frameFlags, payloadOf } from "../protocol/index.js";
import { BusError } from "./errors.js";

interface PendingRequest {
  replies: Message[];
  max: number;
  timer: ReturnType<typeof setTimeout>;
  finish(error?: BusError): void;
}

export class ClientRequests {
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;

  /**
   * Registers a request under a fresh id, then calls `send` with it. Resolves with the replies once `max`
   * arrived or `timeoutMs` passed; rejects when `send` throws or the request ends in error with none.
   */
  open(max: number, timeoutMs: number, send: (id: number) => void): Promise<Message[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        replies: [],
        max,
        timer: setTimeout(() => request.finish(), timeoutMs),
        finish: (error) => {
          clearTimeout(request.timer);
          this.pending.delete(id);
          if (error && request.replies.length === 0) reject(error);
          else resolve(request.replies);
        },
      };
      this.pending.set(id, request);
      try {
        send(id);
      } catch (error) {
        request.finish(error as BusError);
      }
    });
  }

  /** A REPLY frame; replies to requests already finished are ignored. */
  settle(frame: Uint8Array): void {
    const header = decodeRoute(frame);
    const request = this.pending.get(header.id);
    if (!request) return;
    if (frameFlags(frame) & FrameFlag.noResponders) {
      request.finish(new BusError("no_responders", `no subscriber for "${header.event}" matches the target`));
      return;
    }
    request.replies.push(createMessage("publish", header, payloadOf(frame).slice()));
    if (request.replies.length >= request.max) request.finish();
  }

  /** Ends every request: with the replies it has, or `error` when it has none. */
  finishAll(error: BusError): void {
    for (const request of this.pending.values()) request.finish(error);
  }
}
