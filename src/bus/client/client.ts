// The bus client: handshake, declarations, publish/request, events as an async iterable, and reconnect.
// Frames are written into one batch and flushed once per microtask as one transport write.
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "../backoff.js";
import { countDeliveries, type DeliveryCount } from "../delivery-count.js";
import { AwakeClock, SilenceMeter } from "../liveness.js";
import { createMessage, createMessageOf, type Message, type Payload, toBytes } from "../message.js";
import {
  checkRoute,
  DEFAULT_MAX_FRAME_BYTES,
  type Declaration,
  type DeliveryReport,
  decodeControl,
  decodeRoute,
  encodeControl,
  encodeRouted,
  encodeRouteHeader,
  FrameParser,
  FrameType,
  frameType,
  PROTOCOL_VERSION,
  ProtocolError,
  PublishFlag,
  parseDeliveryReport,
  parseError,
  parseReady,
  payloadOf,
  routedLength,
  type Target,
  writeRouted,
} from "../protocol/index.js";
import { RequestsInFlight } from "../requests-in-flight.js";
import { BusError, BusTimeoutError } from "./errors.js";
import { FrameBatch } from "./frame-batch.js";
import { GreetingCheck } from "./greeting.js";
import type { TlsClientOptions, Transport, TransportFactory, WebSocketConstructor } from "./transport.js";
import { webSocketTransportFor } from "./websocket-transport.js";

export interface ClientOptions {
  /** tcp://host:port, tls://host:port, ws://host:port/, wss://…, or plain host:port (TCP). */
  url: string;
  token?: string | undefined;
  name?: string;
  events?: string[];
  tags?: string[];
  groups?: string[];
  channels?: string[];
  /** Reconnect after a lost connection (default true, with capped jittered backoff). */
  reconnect?: boolean | BackoffOptions;
  /** Received messages kept for a slow iterator before the oldest are dropped. */
  maxQueuedMessages?: number;
  /** Publishes kept while disconnected, in bytes. */
  maxBufferedBytes?: number;
  maxFrameBytes?: number;
  tls?: TlsClientOptions;
  /** WebSocket implementation for ws:// URLs outside browsers (for example `ws`'s WebSocket). */
  webSocket?: WebSocketConstructor;
  /** Overrides the transport chosen from the URL. */
  transport?: TransportFactory;
  /** Longest wait for the TCP, TLS or WebSocket connection to open, per attempt (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** Longest wait for READY once connected (CONNECT and DECLARE sent), per attempt (default 10 000 ms). */
  handshakeTimeoutMs?: number;
  /** Longest wait for the READY that confirms a subscribe()'s DECLARE (default 10 000 ms). */
  subscribeTimeoutMs?: number;
  /**
   * Longest wait in flush() (and close()) for the node to take what is buffered (default 10 000 ms): a node
   * that stops reading must not hold the caller forever.
   */
  flushTimeoutMs?: number;
}

/** Default of each of connectTimeoutMs, handshakeTimeoutMs, subscribeTimeoutMs and flushTimeoutMs. */
export const DEFAULT_DEADLINE_MS = 10_000;

type Outgoing = Uint8Array | (() => Uint8Array);

interface ReadyWaiter {
  resolve(): void;
  reject(error: Error): void;
}

export class BusClient implements AsyncIterable<Message> {
  /** The node this client is connected to (from READY). */
  node = "";
  /** Messages dropped because the iterator fell behind. */
  dropped = 0;
  private connectionId = 0;
  private transport: Transport | undefined;
  private ready = false;
  private closing = false;
  private declaration: Declaration;
  private readonly factory: TransportFactory;
  private readonly backoff: BackoffOptions | undefined;
  /** Frames encoded while ready, in order; older than anything in `queue`. */
  private readonly batch = new FrameBatch();
  /** Frames held while not ready (encoded when sent, once the node's name is known). */
  private queue: Outgoing[] = [];
  private queuedBytes = 0;
  /** The header of the last publish, reused while event and target repeat. */
  private publishHeader: Required<Target> & { origin: string; event: string; bytes: Uint8Array } = {
    origin: "",
    event: "",
    node: "",
    tag: "",
    group: "",
    channel: "",
    bytes: new Uint8Array(0),
  };
  private scheduled = false;
  private heartbeatMs = 1000;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastSeen = 0;
  private lastSent = 0;
  private readonly requests = new RequestsInFlight(
    (event) => new BusError("no_responders", `no subscriber for "${event}" matches the target`),
  );
  private readonly listeners = new Set<(message: Message) => void>();
  private readonly inbox: Message[] = [];
  /** Whether an async iterator is open: without one, messages a listener took are not kept. */
  private iterating = false;
  /** An ERROR frame from the node: the connection ends right after it. */
  private fatal: BusError | undefined;
  private readonly waiting: ((result: IteratorResult<Message>) => void)[] = [];
  private readyWaiters: ReadyWaiter[] = [];
  /**
   * PINGs written on this connection and PONGs received: the node answers each PING in order, after the
   * frames before it, so the nth PONG confirms everything sent before the nth PING.
   */
  private pingsSent = 0;
  private pongsReceived = 0;
  /** confirm() calls waiting for the PONG of their PING (`ping`: its number on this connection). */
  private confirmWaiters: (ReadyWaiter & { ping: number })[] = [];
  /** Ends a connection that has not answered CONNECT/DECLARE with READY in time. */
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private closedResolve!: (error: BusError | undefined) => void;
  /** Resolves when the client is closed for good, with the reason when it was not asked to close. */
  readonly closed: Promise<BusError | undefined> = new Promise((resolve) => {
    this.closedResolve = resolve;
  });
  private readonly flushNow = () => this.flushQueue();

  /**
   * How a URL becomes a transport. This class dials WebSockets only, so that a browser bundle of it never
   * reaches node:net; the Node entry (index.ts) extends it with TCP and TLS.
   */
  protected static dial: (options: ClientOptions) => TransportFactory = webSocketTransportFor;

  protected constructor(
    private readonly options: ClientOptions,
    dial: (options: ClientOptions) => TransportFactory,
  ) {
    this.factory = options.transport ?? dial(options);
    this.declaration = {
      events: options.events ?? [],
      tags: options.tags ?? [],
      groups: options.groups ?? [],
      channels: options.channels ?? [],
    };
    this.backoff =
      options.reconnect === false
        ? undefined
        : options.reconnect === true || !options.reconnect
          ? DEFAULT_BACKOFF
          : options.reconnect;
  }

  /** Connects, authenticates and declares; resolves once the node answered READY. */
  static async connect(options: ClientOptions): Promise<BusClient> {
    // biome-ignore lint/complexity/noThisInStatic: the class called on dials (index.ts's adds TCP and TLS)
    const client = new this(options, this.dial);
    await client.open();
    return client;
  }

  private async open(): Promise<void> {
    const transport = await this.dial();
    this.attach(transport);
    await this.waitReady();
  }

  /**
   * Opens a transport within the connect deadline. A dial that loses the race is aborted; one whose factory
   * ignores the abort is closed when it opens.
   */
  private dial(): Promise<Transport> {
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_DEADLINE_MS;
    const abort = new AbortController();
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        const error = new BusTimeoutError("connect", this.options.url, timeoutMs);
        abort.abort(error);
        reject(error);
      }, timeoutMs);
      let dialing: Promise<Transport>;
      try {
        dialing = this.factory(abort.signal);
      } catch (error) {
        clearTimeout(timer);
        reject(error);
        return;
      }
      dialing.then(
        (transport) => {
          clearTimeout(timer);
          if (late) transport.close();
          else resolve(transport);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!late) reject(error);
        },
      );
    });
  }

  private waitReady(): Promise<void> {
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  private stopHandshakeTimer(): void {
    if (this.handshakeTimer === undefined) return;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  private attach(transport: Transport): void {
    this.transport = transport;
    this.ready = false;
    this.pingsSent = 0;
    this.pongsReceived = 0;
    this.lastSeen = Date.now();
    const maxFrameBytes = this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const parser = new FrameParser({ maxFrameBytes, onFrame: (frame) => this.onFrame(frame) });
    const greeting = new GreetingCheck(maxFrameBytes);
    transport.onData((chunk) => {
      if (this.transport !== transport) return;
      this.lastSeen = Date.now();
      const foreign = greeting.push(chunk);
      if (foreign !== undefined) {
        this.lostConnection(
          new BusError(
            "not_a_node",
            `the server at ${this.options.url} is not a TreeScale node: it answered "${foreign}"; check the ` +
              "address and port (a node's bus port; its HTTP port takes ws:// or wss://)",
          ),
        );
        return;
      }
      try {
        parser.push(chunk);
      } catch (error) {
        const code = error instanceof ProtocolError ? error.code : "protocol_error";
        this.lostConnection(new BusError(code, (error as Error).message, { cause: error }));
      }
    });
    transport.onClose((error) => {
      if (this.transport !== transport) return;
      const reason = error ? error.message : "connection closed";
      // Never ready and no ERROR frame: most often plain TCP against a TLS listener (or the reverse).
      const hint =
        this.node === ""
          ? `the node at ${this.options.url} closed the connection before READY (${reason}): ` +
            "a TLS listener needs tls:// or wss://, a plain one tcp:// or ws://"
          : reason;
      this.lostConnection(this.fatal ?? new BusError("disconnected", hint, { cause: error }));
    });
    const connect: Record<string, unknown> = { protocol: PROTOCOL_VERSION, kind: "client" };
    if (this.options.token !== undefined) connect.token = this.options.token;
    if (this.options.name !== undefined) connect.name = this.options.name;
    transport.send(
      concat([encodeControl(FrameType.connect, connect), encodeControl(FrameType.declare, this.declaration)]),
    );
    // Heartbeats start only with READY: until then, nothing else notices a node that stays silent.
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_DEADLINE_MS;
    this.stopHandshakeTimer();
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = undefined;
      if (this.transport === transport && !this.ready) {
        this.lostConnection(new BusTimeoutError("handshake", this.options.url, timeoutMs));
      }
    }, timeoutMs);
  }

  private onFrame(frame: Uint8Array): void {
    const type = frameType(frame);
    switch (type) {
      case FrameType.publish: {
        // The header is decoded only if the subscriber reads it; the payload is a view of the received
        // chunk, not a copy (the chunk is nobody else's to write to).
        checkRoute(frame);
        this.deliver(createMessageOf("publish", frame));
        return;
      }
      case FrameType.request: {
        const header = decodeRoute(frame);
        const respond = (payload: Uint8Array, flags: number) =>
          this.enqueue(
            encodeRouted(
              FrameType.reply,
              {
                id: header.id,
                event: header.event,
                origin: this.node,
                node: header.origin,
                replyTo: header.replyTo,
              },
              payload,
              flags,
            ),
          );
        this.deliver(createMessage("request", header, payloadOf(frame), respond));
        return;
      }
      case FrameType.reply: {
        this.requests.settle(frame);
        return;
      }
      case FrameType.ready: {
        const ready = parseReady(decodeControl(frame));
        this.node = ready.node;
        this.connectionId = ready.connection;
        this.heartbeatMs = ready.heartbeatMs;
        this.ready = true;
        this.stopHandshakeTimer();
        this.startHeartbeat();
        this.scheduleFlush();
        const waiters = this.readyWaiters;
        this.readyWaiters = [];
        for (const waiter of waiters) waiter.resolve();
        return;
      }
      case FrameType.error: {
        const error = parseError(decodeControl(frame));
        this.fatal = new BusError(error.code, error.message);
        return;
      }
      case FrameType.pong: {
        this.pongsReceived++;
        while (this.confirmWaiters[0] && this.confirmWaiters[0].ping <= this.pongsReceived) {
          this.confirmWaiters.shift()?.resolve();
        }
        return;
      }
      default:
        return;
    }
  }

  private deliver(message: Message): void {
    for (const listener of this.listeners) listener(message);
    const waiter = this.waiting.shift();
    if (waiter) {
      waiter({ value: message, done: false });
      return;
    }
    if (this.listeners.size > 0 && this.waiting.length === 0 && !this.iterating) return;
    this.inbox.push(message);
    if (this.inbox.length > (this.options.maxQueuedMessages ?? 65536)) {
      this.inbox.shift();
      this.dropped++;
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const ping = encodeControl(FrameType.ping);
    const tick = Math.max(5, Math.floor(this.heartbeatMs / 4));
    const clock = new AwakeClock(tick, Date.now());
    const silence = new SilenceMeter(Date.now());
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      // Our own stalls (a busy event loop, a starved process) do not count as the node's silence.
      if (silence.measure(this.lastSeen, now, clock.advance(now)) > 3 * this.heartbeatMs) {
        this.lostConnection(new BusError("heartbeat_timeout", `node silent for ${now - this.lastSeen} ms`));
      } else if (now - this.lastSent >= this.heartbeatMs && this.transport) {
        this.lastSent = now;
        this.pingsSent++;
        this.transport.send(ping);
      }
    }, tick);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private lostConnection(error: BusError): void {
    if (!this.transport) return;
    const lost = this.transport;
    this.transport = undefined;
    this.ready = false;
    lost.close();
    this.stopHandshakeTimer();
    if (this.heartbeat) clearInterval(this.heartbeat);
    // What was sent on the lost connection is unconfirmed for good: a reconnect does not resend it.
    for (const waiter of this.confirmWaiters.splice(0)) waiter.reject(error);
    const fatal =
      error.code === "auth_failed" ||
      error.code === "protocol_error" ||
      error.code === "frame_too_large" ||
      error.code === "not_a_node";
    const firstConnect = this.readyWaiters.length > 0 && this.node === "";
    if (this.closing || !this.backoff || fatal || firstConnect) {
      this.shutdown(this.closing ? undefined : error);
      return;
    }
    this.fatal = undefined;
    void this.reconnect(0);
  }

  private async reconnect(attempt: number): Promise<void> {
    const backoff = this.backoff ?? DEFAULT_BACKOFF;
    await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, backoff)));
    if (this.closing) return;
    let transport: Transport;
    try {
      transport = await this.dial();
    } catch {
      void this.reconnect(attempt + 1);
      return;
    }
    // close() may have come while dialing: the new connection is not wanted any more.
    if (this.closing) transport.close();
    else this.attach(transport);
  }

  private shutdown(error: BusError | undefined): void {
    this.closing = true;
    this.stopHandshakeTimer();
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const waiter of this.readyWaiters) waiter.reject(error ?? new BusError("closed", "client closed"));
    this.readyWaiters = [];
    this.requests.finishAll(error ?? new BusError("closed", "client closed"));
    for (const waiter of this.confirmWaiters.splice(0))
      waiter.reject(error ?? new BusError("closed", "client closed"));
    for (const waiter of this.waiting.splice(0)) waiter({ value: undefined, done: true });
    this.closedResolve(error);
  }

  // ---- sending ----

  private enqueue(item: Outgoing, bytes = typeof item === "function" ? 64 : item.length): void {
    if (this.closing) throw new BusError("closed", "the client is closed");
    if (this.ready && this.queue.length === 0) {
      this.batch.append(typeof item === "function" ? item() : item);
      this.scheduleFlush();
      return;
    }
    if (!this.ready && this.queuedBytes + bytes > (this.options.maxBufferedBytes ?? 8 * 1024 * 1024)) {
      throw new BusError("buffer_full", "too much buffered while disconnected");
    }
    this.queue.push(item);
    this.queuedBytes += bytes;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    queueMicrotask(this.flushNow);
  }

  private flushQueue(): void {
    this.scheduled = false;
    if (!this.ready || !this.transport) return;
    for (const item of this.queue) this.batch.append(typeof item === "function" ? item() : item);
    this.queue = [];
    this.queuedBytes = 0;
    if (this.batch.bytes === 0) return;
    this.lastSent = Date.now();
    for (const chunk of this.batch.take()) this.transport.send(chunk);
  }

  /** Publishes an event; target fields narrow who receives it (all given fields must match). */
  publish(event: string, payload?: Payload, target: Target = {}): void {
    const bytes = toBytes(payload);
    if (!this.ready || this.queue.length > 0 || this.closing) {
      this.enqueue(
        () => encodeRouted(FrameType.publish, { event, origin: this.node, ...target }, bytes),
        bytes.length,
      );
      return;
    }
    const header = this.headerFor(event, target);
    const length = routedLength(header, bytes);
    const slab = this.batch.reserve(length);
    writeRouted(slab, this.batch.offset, FrameType.publish, header, bytes);
    this.batch.commit(length);
    this.scheduleFlush();
  }

  private headerFor(event: string, target: Target): Uint8Array {
    const last = this.publishHeader;
    const node = target.node ?? "";
    const tag = target.tag ?? "";
    const group = target.group ?? "";
    const channel = target.channel ?? "";
    if (
      last.event !== event ||
      last.origin !== this.node ||
      last.node !== node ||
      last.tag !== tag ||
      last.group !== group ||
      last.channel !== channel
    ) {
      this.publishHeader = {
        origin: this.node,
        event,
        node,
        tag,
        group,
        channel,
        bytes: encodeRouteHeader({ event, origin: this.node, node, tag, group, channel }),
      };
    }
    return this.publishHeader.bytes;
  }

  /**
   * Publishes an event and gathers the nodes' reports of where it went (a counted PUBLISH): resolves once
   * every node it reached has reported, or after `timeoutMs` with the reports that came (`exact` false).
   * With `probe`, the nodes only count: no subscriber receives anything.
   */
  async publishCounted(
    event: string,
    payload?: Payload,
    target: Target = {},
    options: { timeoutMs?: number; probe?: boolean } = {},
  ): Promise<DeliveryCount> {
    const bytes = toBytes(payload);
    const flags = PublishFlag.count | (options.probe ? PublishFlag.probe : 0);
    const reportsOf = (replies: readonly Message[]): DeliveryReport[] =>
      replies.flatMap((reply) => {
        try {
          return [parseDeliveryReport(reply.data)];
        } catch {
          return [];
        }
      });
    if (!this.ready) await this.waitReady();
    const origin = this.node;
    const replies = await this.requests.open(
      Number.POSITIVE_INFINITY,
      options.timeoutMs ?? 5000,
      (id) =>
        this.enqueue(
          encodeRouted(
            FrameType.publish,
            { id, event, origin, replyTo: String(this.connectionId), ...target },
            bytes,
            flags,
          ),
        ),
      (replies) => countDeliveries(event, origin, reportsOf(replies)).exact,
    );
    return countDeliveries(event, origin, reportsOf(replies));
  }

  /**
   * Sends a request and resolves with the first reply. Rejects with RequestHandlerError when that first
   * answer is an error reply (the responder's handler failed), no_responders when nothing matches, and
   * request_timeout when no answer came in time.
   */
  async request(event: string, target: Target, payload?: Payload, timeoutMs = 5000): Promise<Message> {
    const [first] = await this.requestMany(event, target, payload, timeoutMs, 1);
    if (!first) throw new BusError("request_timeout", `no reply to "${event}" within ${timeoutMs} ms`);
    return first;
  }

  /**
   * Sends a request and gathers replies until `max` answers arrived, `enough` says the replies so far
   * are all that is needed, or the timeout passed. Error replies count toward `max` but are left out of
   * the result; when every answer was one, it rejects with the first RequestHandlerError.
   */
  requestMany(
    event: string,
    target: Target,
    payload?: Payload,
    timeoutMs = 5000,
    max = Number.POSITIVE_INFINITY,
    enough?: (replies: readonly Message[]) => boolean,
  ): Promise<Message[]> {
    const bytes = toBytes(payload);
    return this.requests.open(
      max,
      timeoutMs,
      (id) =>
        this.enqueue(
          () =>
            encodeRouted(
              FrameType.request,
              { id, event, origin: this.node, replyTo: String(this.connectionId), ...target },
              bytes,
            ),
          bytes.length,
        ),
      enough,
    );
  }

  /**
   * Replaces this client's events and memberships; resolves when the node confirmed with READY. Rejects
   * with SUBSCRIBE_TIMEOUT (BusTimeoutError) after subscribeTimeoutMs; the connection, stuck unconfirmed,
   * is then dropped, and the next one declares the new declaration.
   */
  subscribe(declaration: Partial<Declaration>): Promise<void> {
    if (this.closing) return Promise.reject(new BusError("closed", "the client is closed"));
    this.declaration = { ...this.declaration, ...declaration };
    const timeoutMs = this.options.subscribeTimeoutMs ?? DEFAULT_DEADLINE_MS;
    return new Promise((resolve, reject) => {
      const waiter: ReadyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((other) => other !== waiter);
        const error = new BusTimeoutError("subscribe", this.options.url, timeoutMs);
        reject(error);
        if (this.transport && !this.ready) this.lostConnection(error);
      }, timeoutMs);
      this.readyWaiters.push(waiter);
      this.ready = false;
      this.transport?.send(encodeControl(FrameType.declare, this.declaration));
    });
  }

  /** Calls `listener` for every message; returns the function that stops it. */
  onMessage(listener: (message: Message) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Answers requests for `event` ("*": every request) with what `handler` returns. A handler that throws or
   * rejects answers with an error reply: the requester's request() rejects with RequestHandlerError
   * carrying its message. Declares the event first when the declaration lacks it, and resolves once the
   * node confirmed; the function it resolves with stops answering (the event stays declared).
   */
  async handle(
    event: string,
    handler: (request: Message) => Payload | Promise<Payload>,
  ): Promise<() => void> {
    const stop = this.onMessage((message) => {
      const { reply, replyError } = message;
      if (!reply || !replyError || (event !== "*" && message.event !== event)) return;
      Promise.resolve()
        .then(() => handler(message))
        .then(reply)
        .catch((error: unknown) => {
          try {
            replyError(error);
          } catch {
            // Closed, or the buffer full, while the handler ran: the requester's timeout is all that is left.
          }
        });
    });
    const events = this.declaration.events;
    if (!events.includes(event) && !events.includes("*")) {
      try {
        await this.subscribe({ events: [...events, event] });
      } catch (error) {
        stop();
        throw error;
      }
    }
    return stop;
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    this.iterating = true;
    return {
      next: () => {
        const message = this.inbox.shift();
        if (message) return Promise.resolve({ value: message, done: false });
        if (this.closing) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: () => {
        this.iterating = false;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /**
   * Resolves when everything published so far has been handed to the operating system. Rejects with
   * FLUSH_TIMEOUT (BusTimeoutError) when that takes longer than flushTimeoutMs: the node stopped reading.
   */
  async flush(): Promise<void> {
    this.flushQueue();
    const transport = this.transport;
    if (!transport) return;
    const timeoutMs = this.options.flushTimeoutMs ?? DEFAULT_DEADLINE_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusTimeoutError("flush", this.options.url, timeoutMs)), timeoutMs);
    });
    try {
      await Promise.race([transport.drained(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves when the node has handled everything sent so far: a PING goes after it, and the node answers
   * PONG only once it took every frame before it. Rejects with the node's ERROR when it refused one of them
   * (for example `forbidden` for a publish the token does not allow), with the connection's loss, or with
   * CONFIRM_TIMEOUT (BusTimeoutError) after flushTimeoutMs.
   */
  async confirm(): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (this.closing) throw new BusError("closed", "the client is closed");
    if (!this.ready || !this.transport) await this.waitReady();
    // Heartbeat PINGs go straight to the transport: the batch goes first, so that the wire order of PINGs
    // is the order they are counted in, and this PING follows every frame sent before it.
    this.flushQueue();
    const transport = this.transport;
    if (!transport) throw this.fatal ?? new BusError("disconnected", "connection lost before confirming");
    this.pingsSent++;
    this.lastSent = Date.now();
    const ping = this.pingsSent;
    const timeoutMs = this.options.flushTimeoutMs ?? DEFAULT_DEADLINE_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<void>((resolve, reject) =>
      this.confirmWaiters.push({ resolve, reject, ping }),
    );
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BusTimeoutError("confirm", this.options.url, timeoutMs)),
        timeoutMs,
      );
    });
    transport.send(encodeControl(FrameType.ping));
    try {
      await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  get isReady(): boolean {
    return this.ready;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    await this.flush().catch(() => {});
    this.closing = true;
    const transport = this.transport;
    this.transport = undefined;
    transport?.close();
    this.shutdown(undefined);
  }
}

function concat(frames: Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frames[0]!;
  let total = 0;
  for (const frame of frames) total += frame.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const frame of frames) {
    out.set(frame, offset);
    offset += frame.length;
  }
  return out;
}
