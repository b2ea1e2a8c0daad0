// One node of the bus: accepts clients and child nodes, links to a parent, and is the door in-process
// code (the node's agent) subscribes, publishes, requests and answers through without a socket. It wires
// the parts together — admission, routing, requests, heartbeats, node events — and dispatches each frame.
import { errorMessage, TreescaleError } from "../../errors.js";
import { type Message, type Payload, toBytes } from "../message.js";
import { type BusGauges, BusMetrics } from "../metrics.js";
import {
  decodeControl,
  decodeRoute,
  ErrorCode,
  encodeControl,
  encodeRouted,
  FrameType,
  frameType,
  ProtocolError,
  parseDeclaration,
  parseError,
  parseInterest,
  parseReady,
  type ReadyBody,
  type Target,
} from "../protocol/index.js";
import { RequestsInFlight } from "../requests-in-flight.js";
import { Admission } from "./admission.js";
import type { Authenticator } from "./auth.js";
import { AuthThrottle } from "./auth-throttle.js";
import { release } from "./back-pressure.js";
import { checkDeclaration } from "./declaration-limits.js";
import { Heartbeat } from "./heartbeat.js";
import { INTEREST_FRAME_BYTES } from "./interest-frames.js";
import { type BusLimits, resolveLimits } from "./limits.js";
import type { Logger } from "./log.js";
import { type NodeEventListener, NodeLinks } from "./node-links.js";
import { Peer } from "./peer.js";
import { PendingConnections } from "./pending-connections.js";
import { EventPolicy, type EventRule, forbiddenMessage, type Grant } from "./permissions.js";
import { NoRespondersError, RequestTimeoutError } from "./requests.js";
import { Router } from "./router.js";
import type { Wire } from "./wire.js";

const PONG = encodeControl(FrameType.pong);

export { RequestHandlerError } from "../client/errors.js";
export { type BusLimits, DEFAULT_LIMITS } from "./limits.js";
export type { Logger, LogLevel } from "./log.js";
export type { NodeDownEvent } from "./node-links.js";
export { NoRespondersError, RequestTimeoutError } from "./requests.js";

export interface BusServerOptions {
  name: string;
  tags?: string[];
  auth: Authenticator;
  /** Cluster secret for node links; without it this node refuses children and cannot join a parent. */
  clusterSecret?: Uint8Array | undefined;
  /** Require a CA-verified client certificate from child nodes (mutual TLS). */
  requireNodeCertificate?: boolean;
  heartbeatMs?: number;
  maxFrameBytes?: number;
  /** Output buffer limit per connection; over it the connection is a slow consumer. */
  maxPendingBytes?: number;
  /** Bounds on handshakes and declarations; see limits.ts for each and its default. */
  limits?: Partial<BusLimits>;
  /**
   * Events this node keeps for itself (its agent's, re-parenting): sending one takes the rule's permission
   * instead of publish:<event>, and only clients with `*` receive their requests. None by default.
   */
  reservedEvents?: readonly EventRule[];
  log?: Logger;
}

export class BusServer {
  readonly name: string;
  readonly tags: ReadonlySet<string>;
  readonly metrics = new BusMetrics();
  readonly heartbeatMs: number;
  readonly maxFrameBytes: number;
  readonly limits: Readonly<BusLimits>;
  private readonly maxPendingBytes: number;
  private readonly log: Logger;
  private readonly peers = new Map<number, Peer>();
  private readonly requests = new RequestsInFlight(
    (event) => new NoRespondersError(`no subscriber for "${event}" matches the target`),
  );
  private readonly router: Router;
  private readonly admission: Admission;
  private readonly heartbeat: Heartbeat;
  private readonly links: NodeLinks;
  private readonly pending: PendingConnections;
  /** Who to tell when a parent link being joined becomes ready, and of each later READY on it. */
  private readonly parentJoins = new WeakMap<Peer, (ready: ReadyBody) => void>();
  private nextPeerId = 1;
  private stopping = false;

  constructor(options: BusServerOptions) {
    this.name = options.name;
    this.tags = new Set(options.tags ?? []);
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.limits = resolveLimits(options.limits, this.maxFrameBytes);
    this.log = options.log ?? (() => {});
    this.pending = new PendingConnections(this.limits);
    this.router = new Router({
      name: this.name,
      peers: this.peers,
      requests: this.requests,
      maxPendingBytes: this.maxPendingBytes,
      interestFrameBytes: Math.min(INTEREST_FRAME_BYTES, Math.floor(this.maxFrameBytes / 2)),
      // As long as a silently dead node goes unnoticed: its children's re-link fits well within it.
      interestHoldMs: 3 * this.heartbeatMs,
      metrics: this.metrics,
      log: this.log,
      policy: new EventPolicy(options.reservedEvents),
    });
    this.admission = new Admission({
      name: this.name,
      auth: options.auth,
      clusterSecret: options.clusterSecret,
      requireNodeCertificate: options.requireNodeCertificate,
      throttle: new AuthThrottle(this.limits.authFailureBurst, this.limits.authFailuresPerSecond),
      metrics: this.metrics,
      log: this.log,
      linkReady: (peer, role, ready) => this.linkReady(peer, role, ready),
      declare: (peer, frame) => this.declare(peer, frame),
      replay: (peer, frame) => this.onFrame(peer, frame),
    });
    this.heartbeat = new Heartbeat(this.peers, this.heartbeatMs, this.maxPendingBytes);
    this.links = new NodeLinks(this.name, (event, payload) => this.publish(event, payload), this.log);
  }

  start(): void {
    this.heartbeat.start();
  }

  stop(): void {
    this.stopping = true;
    this.heartbeat.stop();
    for (const peer of this.peers.values())
      peer.fail(ErrorCode.shuttingDown, `node ${this.name} is stopping`);
    this.requests.finishAll(new TreescaleError("NODE_STOPPED", `node ${this.name} stopped`), false);
  }

  /** Called for node.up / node.down of direct children (also published on the bus). */
  onNodeEvent(listener: NodeEventListener): void {
    this.links.on(listener);
  }

  /** Name of the parent while linked to it. */
  get parentName(): string | undefined {
    return this.links.parentName;
  }

  /** Closes the link to the parent (the caller decides whether and where to re-dial). */
  dropParent(reason: string): void {
    this.links.dropParent(reason);
  }

  get parentConnected(): boolean {
    return this.links.parentConnected;
  }

  gauges(): BusGauges {
    let clients = 0;
    let subscriptions = 0;
    let pendingOutputBytes = 0;
    for (const peer of this.peers.values()) {
      pendingOutputBytes += peer.pendingBytes();
      if (peer.role === "client") {
        clients++;
        subscriptions += peer.events.size;
      }
    }
    return {
      clients,
      pending: this.pending.size,
      childLinks: this.links.childCount,
      parentLinks: this.parentConnected ? 1 : 0,
      subscriptions,
      subscribedEvents: this.router.subscribedEvents,
      replyRoutes: this.router.replyRoutes,
      interestKeys: this.router.interestKeys,
      pendingOutputBytes,
    };
  }

  /**
   * Closes every client admitted with one of `grants` (a token taken out of the token file) with ERROR
   * token_revoked; returns how many were closed.
   */
  revoke(grants: ReadonlySet<Grant>, message: string): number {
    let closed = 0;
    for (const peer of this.peers.values()) {
      if (peer.role !== "client" || !grants.has(peer.grant)) continue;
      peer.fail(ErrorCode.tokenRevoked, message);
      closed++;
    }
    return closed;
  }

  /** Accepts an inbound connection (client or child node). */
  accept(wire: Wire): void {
    if (this.stopping) {
      wire.destroy();
      return;
    }
    const refusal = this.pending.refusal(wire.address);
    if (refusal) {
      // Refused before a parser or a deadline exists for it: a flood of these costs one write each.
      this.metrics.connectionsRefused++;
      const error = encodeControl(FrameType.error, { code: ErrorCode.tooManyConnections, message: refusal });
      wire.write([error], error.length);
      wire.end();
      return;
    }
    const peer = this.createPeer(wire);
    this.pending.add(peer, (late, timeoutMs) => {
      this.metrics.handshakeTimeouts++;
      late.fail(
        ErrorCode.handshakeTimeout,
        `no handshake within ${timeoutMs} ms of connecting: a client sends CONNECT and DECLARE right ` +
          "after connecting, a node CONNECT then PROOF",
      );
    });
  }

  /**
   * Joins the parent over an established wire; resolves when the link closes. `onReady` is called with the
   * parent's READY (and again with each READY it sends later, when its own parent changes), so that the
   * caller can end its handshake deadline and learn where the grandparent is. `dialed` is the address this
   * node dialed: told to this node's children as their grandparent.
   */
  attachParent(
    wire: Wire,
    options: { onReady?: (ready: ReadyBody) => void; dialed?: { host: string; port: number } } = {},
  ): Promise<{ ready: boolean; reason: string }> {
    return new Promise((resolve) => {
      const peer = this.createPeer(wire, (closed) =>
        resolve({
          ready: closed.role === "parent",
          reason: closed.closeReason ? `${closed.closeReason.code}: ${closed.closeReason.message}` : "closed",
        }),
      );
      peer.dialed = options.dialed;
      if (options.onReady) this.parentJoins.set(peer, options.onReady);
      this.admission.join(peer);
    });
  }

  private createPeer(wire: Wire, closed?: (peer: Peer) => void): Peer {
    const peer = new Peer(this.nextPeerId++, wire, {
      // Until READY a connection has proved nothing: it may send what a handshake needs, no more.
      maxFrameBytes: this.limits.handshakeFrameBytes,
      maxPendingBytes: this.maxPendingBytes,
      metrics: this.metrics,
      onFrame: (p, frame) => this.onFrame(p, frame),
      onClose: (p) => {
        this.pending.remove(p);
        release(p);
        this.onClose(p);
        closed?.(p);
      },
      onDrain: release,
    });
    peer.limitFrames(this.limits.handshakeFrameBytes, " before READY (the node's handshake frame limit)");
    this.peers.set(peer.id, peer);
    return peer;
  }

  /** Every frame of every connection: routed frames of ready peers first, they are the hot path. */
  private onFrame(peer: Peer, frame: Uint8Array): void {
    if (peer.closeReason) return;
    const type = frameType(frame);
    if (type === FrameType.ping) {
      // Answered in order, after every frame before it took effect: a client's PING is a barrier that
      // tells it the node took (or refused, with ERROR) all it sent. Before READY nothing is answered.
      if (peer.state === "ready") peer.send(PONG);
      return;
    }
    if (type === FrameType.pong) return;
    if (peer.state === "authenticating") {
      this.admission.hold(peer, frame);
      return;
    }
    if (peer.state === "ready") {
      if (type === FrameType.publish || type === FrameType.request || type === FrameType.reply) {
        this.router.onRouted(peer, frame, type);
        return;
      }
      if (type === FrameType.interest && peer.role !== "client") {
        this.router.applyInterest(peer, parseInterest(decodeControl(frame)));
        return;
      }
      if (type === FrameType.declare && peer.role === "client") {
        this.declare(peer, frame);
        return;
      }
      if (type === FrameType.ready && peer.role === "parent") {
        this.parentJoins.get(peer)?.(parseReady(decodeControl(frame)));
        return;
      }
    }
    if (type === FrameType.error) {
      const error = parseError(decodeControl(frame));
      peer.closeReason ??= error;
      this.log(error.code === ErrorCode.moved ? "info" : "warn", "peer reported an error", {
        // A client by its token's name (or hash), never the token; a node by its name.
        peer: peer.role === "client" ? peer.grant.label : peer.name || peer.remote,
        ...error,
        remote: peer.remote,
      });
      peer.destroy(error.code, error.message);
      return;
    }
    this.admission.onFrame(peer, frame, type);
  }

  /**
   * READY tells a client or child its connection id and the limits of this node; a child also learns where
   * this node's parent is, to link there should this node die.
   */
  private sendReady(peer: Peer, toChild = false): void {
    const parent = toChild ? this.links.parentLink : undefined;
    const grandparent = parent?.dialed ? { node: parent.name, ...parent.dialed } : undefined;
    peer.send(
      encodeControl(FrameType.ready, {
        node: this.name,
        connection: peer.id,
        heartbeatMs: this.heartbeatMs,
        maxFrameBytes: this.maxFrameBytes,
        ...(grandparent ? { grandparent } : {}),
      }),
    );
  }

  /**
   * A client's DECLARE, within the limits on what one client may declare and within what its token lets
   * it receive (else ERROR forbidden naming every event it may not, and close); READY answers it.
   */
  private declare(peer: Peer, frame: Uint8Array): void {
    const declaration = parseDeclaration(decodeControl(frame));
    checkDeclaration(declaration, frame.length, this.limits);
    const refused = declaration.events
      .map((event) => `subscribe:${event}`)
      .filter((permission) => !peer.grant.permissions.allows(permission));
    if (refused.length > 0) {
      const events = refused.map((permission) => permission.slice("subscribe:".length));
      this.router.recordRefusal(peer, refused, events.join(" "));
      const what = `subscribing to ${refused.length === 1 ? "that event" : "those events"}`;
      throw new ProtocolError(ErrorCode.forbidden, forbiddenMessage(refused, what));
    }
    this.router.declare(peer, declaration);
    if (peer.state !== "ready") this.becomeReady(peer);
    this.sendReady(peer);
  }

  /** The handshake is over: the deadline stops and the full frame limit applies. */
  private becomeReady(peer: Peer): void {
    peer.state = "ready";
    this.pending.remove(peer);
    peer.limitFrames(this.maxFrameBytes);
  }

  private linkReady(peer: Peer, role: "child" | "parent", ready?: ReadyBody): void {
    // The link this one replaces stops routing before this one starts, so no frame goes round a loop.
    const replaced = this.links.add(peer, role);
    if (replaced) this.router.removeLink(replaced);
    if (role === "child") this.sendReady(peer, true);
    peer.role = role;
    this.becomeReady(peer);
    peer.nonces = undefined;
    this.router.addLink(peer);
    this.links.announce(peer);
    if (role === "parent" && ready) {
      this.parentJoins.get(peer)?.(ready);
      // The children learn their new grandparent.
      for (const child of this.links.childLinks()) this.sendReady(child, true);
    }
  }

  private onClose(peer: Peer): void {
    this.peers.delete(peer.id);
    if (peer.role === "client") {
      this.router.removeClient(peer);
      return;
    }
    if (peer.role !== "child" && peer.role !== "parent") return;
    this.router.removeLink(peer);
    this.links.remove(peer, this.stopping);
  }

  // ---- in-process API ----

  /**
   * Whether a publish of `event` from here would reach anyone who named it (a `*` subscriber does not
   * count): lets a producer whose figures cost something (engine stats) work only while watched.
   */
  interested(event: string): boolean {
    return this.router.interested(event);
  }

  /** Calls `listener(true)` when the first subscriber to `event` appears in the tree, `false` when the last leaves. */
  watchInterest(event: string, listener: (interested: boolean) => void): () => void {
    return this.router.watchInterest(event, listener);
  }

  /** Publishes from this node. */
  publish(event: string, payload?: Payload, target: Target = {}): void {
    const frame = encodeRouted(FrameType.publish, { event, origin: this.name, ...target }, toBytes(payload));
    this.router.route(frame, decodeRoute(frame), FrameType.publish, undefined);
  }

  /**
   * Subscribes in-process code to an event (or "*"). The subscription carries the node's tags plus any
   * memberships given. Returns the unsubscribe function.
   */
  subscribe(
    event: string,
    handler: (message: Message) => void,
    membership: { tags?: string[]; groups?: string[]; channels?: string[] } = {},
  ): () => void {
    return this.router.subscribeLocal(
      {
        events: [event],
        tags: [...new Set([...this.tags, ...(membership.tags ?? [])])],
        groups: membership.groups ?? [],
        channels: membership.channels ?? [],
      },
      handler,
    );
  }

  /**
   * Answers requests for `event` with what `handler` returns. A handler that throws or rejects is logged
   * and answered with an error reply, so that its requester fails at once with the handler's message
   * rather than waiting out its timeout.
   */
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    return this.subscribe(event, (message) => {
      const { reply, replyError } = message;
      if (!reply || !replyError) return;
      Promise.resolve()
        .then(() => handler(message))
        .then(reply)
        .catch((error: unknown) => {
          this.log("error", "request handler failed", { event, error: errorMessage(error) });
          replyError(error);
        });
    });
  }

  /**
   * Sends a request and resolves with the first reply. Rejects with RequestHandlerError when that first
   * answer is an error reply, NoRespondersError when nothing matches, RequestTimeoutError without answer.
   */
  async request(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs = 5000,
  ): Promise<Message> {
    const replies = await this.requestMany(event, target, payload, timeoutMs, 1);
    const first = replies[0];
    if (!first) throw new RequestTimeoutError(`no reply to "${event}" within ${timeoutMs} ms`);
    return first;
  }

  /**
   * Sends a request and gathers replies until `max` answers arrived or the timeout passed. Error replies
   * count toward `max` but are left out of the result; when every answer was one, it rejects with the
   * first RequestHandlerError.
   */
  requestMany(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs = 5000,
    max = Number.POSITIVE_INFINITY,
  ): Promise<Message[]> {
    return this.requests.open(max, timeoutMs, (id) => {
      const frame = encodeRouted(
        FrameType.request,
        { id, event, origin: this.name, replyTo: "0", ...target },
        toBytes(payload),
      );
      this.router.route(frame, decodeRoute(frame), FrameType.request, undefined);
    });
  }
}
