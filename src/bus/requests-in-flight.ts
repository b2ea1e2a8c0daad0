// Requests in flight, made by a client or by in-process code on a node: their ids, the replies
// gathered so far and their timeouts. A REPLY settles one here; closing ends them all.
import { RequestHandlerError } from "./client/errors.js";
import { createMessage, type Message } from "./message.js";
import {
  decodeReplyError,
  decodeRoute,
  FrameFlag,
  frameFlags,
  payloadOf,
  type RouteHeader,
} from "./protocol/index.js";

interface PendingRequest {
  replies: Message[];
  /** Error replies: responders whose handler failed. They count toward `max` like any answer. */
  failures: RequestHandlerError[];
  max: number;
  /** Ends the wait early once the replies so far are all the caller needs. */
  enough: ((replies: readonly Message[]) => boolean) | undefined;
  timer: ReturnType<typeof setTimeout>;
  finish(error?: Error): void;
}

/** A random request id in 1..2^32-1 (Web Crypto: this module also runs in browsers). */
function randomId(): number {
  return (globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) || 1;
}

export class RequestsInFlight {
  private readonly pending = new Map<number, PendingRequest>();
  /** Starts anywhere in the u32 range: one connection's ids tell nothing about another's. */
  private nextId = randomId();

  /** `noResponders`: the error a request ends with when nothing in the tree subscribes to its event. */
  constructor(private readonly noResponders: (event: string) => Error) {}

  /**
   * Registers a request under a fresh id, then calls `send` with it. Resolves with the replies once `max`
   * answers arrived or `timeoutMs` passed; rejects when `send` throws or the request ends in error with no
   * reply. Error replies are left out of the result; when they are all it got, it rejects with the first.
   */
  open(
    max: number,
    timeoutMs: number,
    send: (id: number) => void,
    enough?: (replies: readonly Message[]) => boolean,
  ): Promise<Message[]> {
    const id = this.nextId++;
    // Ids travel as u32 in the route header.
    if (this.nextId > 0xffffffff) this.nextId = 1;
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        replies: [],
        failures: [],
        max,
        enough,
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
        request.finish(error as Error);
      }
    });
  }

  /** A REPLY frame; replies to requests already finished are ignored. */
  settle(frame: Uint8Array, header: RouteHeader = decodeRoute(frame)): void {
    const request = this.pending.get(header.id);
    if (!request) return;
    const flags = frameFlags(frame);
    if (flags & FrameFlag.noResponders) {
      request.finish(this.noResponders(header.event));
      return;
    }
    if (flags & FrameFlag.handlerError) {
      const body = decodeReplyError(payloadOf(frame));
      request.failures.push(new RequestHandlerError(header.event, header.origin, body.message, body.code));
    } else {
      request.replies.push(createMessage("publish", header, payloadOf(frame).slice()));
    }
    if (request.replies.length + request.failures.length >= request.max || request.enough?.(request.replies))
      request.finish();
  }

  /**
   * Ends every request: with the replies it has, or `error` when it has none. A node that stops
   * drops what was gathered (`keepReplies` false): its in-process callers get the error.
   */
  finishAll(error: Error, keepReplies = true): void {
    for (const request of this.pending.values()) {
      if (!keepReplies) request.replies = [];
      request.finish(error);
    }
  }
}
