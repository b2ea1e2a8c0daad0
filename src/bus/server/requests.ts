// Requests made by in-process code on this node: their ids, the replies gathered so far and their
// timeouts. A reply routed to connection 0 (the node itself) settles here.
import { createMessage, type Message } from "../message.js";
import { FrameFlag, frameFlags, payloadOf, type RouteHeader } from "../protocol/index.js";

export class RequestTimeoutError extends Error {
  readonly code = "request_timeout";
}
export class NoRespondersError extends Error {
  readonly code = "no_responders";
}

interface PendingRequest {
  replies: Message[];
  max: number;
  timer: ReturnType<typeof setTimeout>;
  finish(replies: Message[], error?: Error): void;
}

export class PendingRequests {
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;

  /**
   * Registers a request under a fresh id, then calls `send` with it to put the request on the bus.
   * Resolves with the replies once `max` arrived or `timeoutMs` passed.
   */
  open(max: number, timeoutMs: number, send: (id: number) => void): Promise<Message[]> {
    const id = this.nextId++;
    // Ids travel as u32 in the route header.
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        replies: [],
        max,
        timer: setTimeout(() => request.finish(request.replies), timeoutMs),
        finish: (replies, error) => {
          clearTimeout(request.timer);
          this.pending.delete(id);
          if (error && replies.length === 0) reject(error);
          else resolve(replies);
        },
      };
      this.pending.set(id, request);
      send(id);
    });
  }

  /** A REPLY frame addressed to this node; replies to requests already finished are ignored. */
  settle(frame: Uint8Array, header: RouteHeader): void {
    const request = this.pending.get(header.id);
    if (!request) return;
    if (frameFlags(frame) & FrameFlag.noResponders) {
      request.finish(
        request.replies,
        new NoRespondersError(`no subscriber for "${header.event}" matches the target`),
      );
      return;
    }
    request.replies.push(createMessage("publish", header, payloadOf(frame).slice()));
    if (request.replies.length >= request.max) request.finish(request.replies);
  }

  /** Rejects every open request with `error`, replies gathered so far included (the node is stopping). */
  failAll(error: Error): void {
    for (const request of this.pending.values()) request.finish([], error);
  }
}
