// The client's requests in flight: their ids, the replies gathered so far and their timeouts. A REPLY
// from the node settles one here; closing the client ends them all.
import { createMessage, type Message } from "../message.js";
import { decodeReplyError, decodeRoute, FrameFlag, frameFlags, payloadOf } from "../protocol/index.js";
import { BusError, RequestHandlerError } from "./errors.js";

interface PendingRequest {
  replies: Message[];
  /** Error replies: responders whose handler failed. They count toward `max` like any answer. */
  failures: RequestHandlerError[];
  max: number;
  timer: ReturnType<typeof setTimeout>;
  finish(error?: BusError): void;
}

export class ClientRequests {
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;

  /**
   * Registers a request under a fresh id, then calls `send` with it. Resolves with the replies once `max`
   * answers arrived or `timeoutMs` passed; rejects when `send` throws or the request ends in error with no
   * reply. Error replies are left out of the result; when they are all it got, it rejects with the first.
   */
  open(max: number, timeoutMs: number, send: (id: number) => void): Promise<Message[]> {
    const id = this.nextId++;
    // Ids travel as u32 in the route header.
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        replies: [],
        failures: [],
        max,
        timer: setTimeout(() => request.finish(), timeoutMs),
        finish: (error) => {
          clearTimeout(request.timer);
          this.pending.delete(id);
          const failure = error ?? request.failures[0];
          if (failure && request.replies.length === 0) reject(failure);
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
    const flags = frameFlags(frame);
    if (flags & FrameFlag.noResponders) {
      request.finish(new BusError("no_responders", `no subscriber for "${header.event}" matches the target`));
      return;
    }
    if (flags & FrameFlag.handlerError) {
      const body = decodeReplyError(payloadOf(frame));
      request.failures.push(new RequestHandlerError(header.event, header.origin, body.message, body.code));
    } else {
      request.replies.push(createMessage("publish", header, payloadOf(frame).slice()));
    }
    if (request.replies.length + request.failures.length >= request.max) request.finish();
  }

  /** Ends every request: with the replies it has, or `error` when it has none. */
  finishAll(error: BusError): void {
    for (const request of this.pending.values()) request.finish(error);
  }
}
