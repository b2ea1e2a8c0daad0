// Requests made by in-process code on this node: their ids, the replies gathered so far and their
// timeouts. A reply routed to connection 0 (the node itself) settles here.
import { TreescaleError } from "../../errors.js";
import { RequestHandlerError } from "../client/errors.js";
import { createMessage, type Message } from "../message.js";
import { decodeReplyError, FrameFlag, frameFlags, payloadOf, type RouteHeader } from "../protocol/index.js";

export class RequestTimeoutError extends TreescaleError {
  constructor(message: string) {
    super("request_timeout", message);
  }
}
export class NoRespondersError extends TreescaleError {
  constructor(message: string) {
    super("no_responders", message);
  }
}

interface PendingRequest {
  replies: Message[];
  /** Error replies: responders whose handler failed. They count toward `max` like any answer. */
  failures: RequestHandlerError[];
  max: number;
  timer: ReturnType<typeof setTimeout>;
  finish(error?: Error): void;
}

export class PendingRequests {
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;

  /**
   * Registers a request under a fresh id, then calls `send` with it to put the request on the bus.
   * Resolves with the replies once `max` answers arrived or `timeoutMs` passed. Error replies are left out
   * of the result; when they are all it got, it rejects with the first (a RequestHandlerError).
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
      send(id);
    });
  }

  /** A REPLY frame addressed to this node; replies to requests already finished are ignored. */
  settle(frame: Uint8Array, header: RouteHeader): void {
    const request = this.pending.get(header.id);
    if (!request) return;
    const flags = frameFlags(frame);
    if (flags & FrameFlag.noResponders) {
      request.finish(new NoRespondersError(`no subscriber for "${header.event}" matches the target`));
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

  /** Rejects every open request with `error`, replies gathered so far included (the node is stopping). */
  failAll(error: Error): void {
    for (const request of this.pending.values()) {
      request.replies = [];
      request.finish(error);
    }
  }
}
