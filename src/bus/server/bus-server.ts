// The routing core of one node: accepts clients and child nodes, links to a parent, keeps the interest
// table, and routes frames by header only — the same bytes go out that came in. In-process code (the
// node's agent) subscribes, publishes, requests and answers here without a socket.
import { AwakeClock } from "../liveness.js";
import { createMessage, type Message, type Payload, toBytes } from "../message.js";
import { type BusGauges, BusMetrics } from "../metrics.js";
import {
  type Declaration,
  decodeControl,
  decodeRoute,
  ErrorCode,
  encodeControl,
  encodeRouted,
  FrameFlag,
  FrameType,
  frameFlags,
  frameType,
  PROTOCOL_VERSION,
  ProtocolError,
  parseChallenge,
  parseConnect,
  parseDeclaration,
  parseError,
  parseInterest,
  parseProof,
  parseReady,
  payloadOf,
  type RouteHeader,
  type Target,
} from "../protocol/index.js";
import {
  declarationKeys,
  type InterestDelta,
  InterestTable,
  interestMatches,
  type Membership,
  membershipMatches,
  nodeKey,
  type RouteTarget,
  WILDCARD,
} from "../routing/interest.js";
import type { Authenticator } from "./auth.js";
import { childProof, createNonce, parentProof, proofsEqual } from "./handshake.js";
import { Peer } from "./peer.js";
import type { Wire } from "./wire.js";

export type LogLevel = "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

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
  log?: Logger;
}

export interface NodeDownEvent {
  node: string;
  parent: string;
  reason: string;
  message: string;
  /** Milliseconds between the last frame heard from the child and the moment it was declared down. */
  detectionMs: number;
  at: string;
}

interface LocalSubscription extends Membership {
  handler(message: Message): void;
}

interface PendingRequest {
  replies: Message[];
  max: number;
  timer: ReturnType<typeof setTimeout>;
  finish(replies: Message[], error?: Error): void;
}

export class RequestTimeoutError extends Error {
  readonly code = "request_timeout";
}
export class NoRespondersError extends Error {
  readonly code = "no_responders";
}

export class BusServer {
  readonly name: string;
  readonly tags: ReadonlySet<string>;
  readonly metrics = new BusMetrics();
  readonly heartbeatMs: number;
  readonly maxFrameBytes: number;
  private readonly maxPendingBytes: number;
  private readonly log: Logger;
  private readonly table = new InterestTable<Peer>();
  private readonly peers = new Map<number, Peer>();
  private readonly children = new Map<string, Peer>();
  /** Links to other nodes (children and the parent) in the ready state. */
  private links: Peer[] = [];
  private parent: Peer | undefined;
  private readonly subscribers = new Map<string, Set<Membership>>();
  private readonly local = new Set<LocalSubscription>();
  private readonly pending = new Map<number, PendingRequest>();
  private lastRoute: RouteTarget & { version: number; links: readonly Peer[] } = {
    version: -1,
    event: "",
    node: "",
    tag: "",
    group: "",
    channel: "",
    links: [],
  };
  private nextPeerId = 1;
  private nextRequestId = 1;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private stopping = false;
  private readonly nodeEvents: Array<(event: "up" | "down", detail: Record<string, unknown>) => void> = [];

  constructor(private readonly options: BusServerOptions) {
    this.name = options.name;
    this.tags = new Set(options.tags ?? []);
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.maxFrameBytes = options.maxFrameBytes ?? 8 * 1024 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.log = options.log ?? (() => {});
    this.table.addLocal([nodeKey(this.name)]);
  }

  start(): void {
    // One timer for every connection: ping the quiet ones, drop the silent ones after 3 missed beats.
    const tick = Math.max(5, Math.floor(this.heartbeatMs / 4));
    const clock = new AwakeClock(tick, Date.now());
    this.heartbeat = setInterval(() => this.checkLiveness(clock.advance(Date.now())), tick);
    this.heartbeat.unref();
  }

  stop(): void {
    this.stopping = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const peer of this.peers.values())
      peer.fail(ErrorCode.shuttingDown, `node ${this.name} is stopping`);
    for (const request of this.pending.values()) request.finish([], new Error("node stopped"));
  }

  /** Called for node.up / node.down of direct children (also published on the bus). */
  onNodeEvent(listener: (event: "up" | "down", detail: Record<string, unknown>) => void): void {
    this.nodeEvents.push(listener);
  }

  /** Name of the parent while linked to it. */
  get parentName(): string | undefined {
    return this.parent?.state === "ready" ? this.parent.name : undefined;
  }

  /** Closes the link to the parent (the caller decides whether and where to re-dial). */
  dropParent(reason: string): void {
    this.parent?.fail(ErrorCode.shuttingDown, reason);
  }

  get parentConnected(): boolean {
    return this.parent?.state === "ready";
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
      childLinks: this.children.size,
      parentLinks: this.parentConnected ? 1 : 0,
      subscriptions,
      interestKeys: this.table.size,
      pendingOutputBytes,
    };
  }

  /** Accepts an inbound connection (client or child node). */
  accept(wire: Wire): void {
    if (this.stopping) {
      wire.destroy();
      return;
    }
    this.createPeer(wire);
  }

  /** Joins the parent over an established wire; resolves when the link closes. */
  attachParent(wire: Wire): Promise<{ ready: boolean; reason: string }> {
    return new Promise((resolve) => {
      const secret = this.options.clusterSecret;
      const peer = this.createPeer(wire, (closed) =>
        resolve({
          ready: closed.role === "parent",
          reason: closed.closeReason ? `${closed.closeReason.code}: ${closed.closeReason.message}` : "closed",
        }),
      );
      peer.nonces = { mine: createNonce(), theirs: "" };
      peer.state = "challenged";
      if (!secret) {
        peer.fail(ErrorCode.authFailed, "this node has no cluster secret to join its parent with");
        return;
      }
      peer.send(
        encodeControl(FrameType.connect, {
          protocol: PROTOCOL_VERSION,
          kind: "node",
          name: this.name,
          nonce: peer.nonces.mine,
        }),
      );
    });
  }

  private createPeer(wire: Wire, closed?: (peer: Peer) => void): Peer {
    const peer = new Peer(this.nextPeerId++, wire, {
      maxFrameBytes: this.maxFrameBytes,
      maxPendingBytes: this.maxPendingBytes,
      metrics: this.metrics,
      onFrame: (p, frame) => this.onFrame(p, frame),
      onClose: (p) => {
        this.release(p);
        this.onClose(p);
        closed?.(p);
      },
      onDrain: (p) => this.release(p),
    });
    this.peers.set(peer.id, peer);
    return peer;
  }

  // ---- frames ----

  private onFrame(peer: Peer, frame: Uint8Array): void {
    if (peer.closeReason) return;
    const type = frameType(frame);
    if (type === FrameType.ping || type === FrameType.pong) return;
    if (peer.state === "authenticating") {
      if (peer.held.length >= 64) throw new ProtocolError(ErrorCode.notReady, "too many frames before ready");
      peer.held.push(frame);
      return;
    }
    if (peer.state === "ready") {
      if (type === FrameType.publish || type === FrameType.request || type === FrameType.reply) {
        this.onRouted(peer, frame, type);
        return;
      }
      if (type === FrameType.interest && peer.role !== "client") {
        this.sendDeltas(this.table.applyLink(peer, parseInterest(decodeControl(frame))));
        return;
      }
      if (type === FrameType.declare && peer.role === "client") {
        this.declare(peer, parseDeclaration(decodeControl(frame)));
        return;
      }
    }
    if (type === FrameType.error) {
      const error = parseError(decodeControl(frame));
      peer.closeReason ??= error;
      this.log("warn", "peer reported an error", { peer: peer.name || peer.remote, ...error });
      peer.destroy(error.code, error.message);
      return;
    }
    this.onHandshake(peer, frame, type);
  }

  private onHandshake(peer: Peer, frame: Uint8Array, type: number): void {
    const secret = this.options.clusterSecret;
    if (peer.role === "pending" && peer.state === "connecting" && type === FrameType.connect) {
      const hello = parseConnect(decodeControl(frame));
      if (hello.kind === "client") {
        peer.state = "authenticating";
        void this.authenticate(peer, hello.token);
        return;
      }
      // Named before any check, so that a refusal is logged with the node it refused.
      peer.name = hello.name ?? "";
      const problem = !secret
        ? "this node has no cluster secret configured and accepts no child nodes"
        : this.options.requireNodeCertificate && !peer.wire.authorizedPeer
          ? `child nodes must present a certificate signed by the cluster CA (--tls-ca): ${peer.wire.certificateProblem}`
          : !hello.name || !hello.nonce
            ? "a node must send its name and a nonce"
            : undefined;
      if (problem || !secret || !hello.name || !hello.nonce) {
        this.reject(peer, problem ?? "bad node hello");
        return;
      }
      peer.nonces = { mine: createNonce(), theirs: hello.nonce };
      peer.state = "challenged";
      peer.send(
        encodeControl(FrameType.challenge, {
          name: this.name,
          nonce: peer.nonces.mine,
          proof: parentProof(secret, hello.nonce, peer.nonces.mine, this.name),
        }),
      );
      return;
    }
    if (
      peer.role === "pending" &&
      peer.state === "challenged" &&
      type === FrameType.proof &&
      secret &&
      peer.nonces
    ) {
      const { proof } = parseProof(decodeControl(frame));
      if (!proofsEqual(childProof(secret, peer.nonces.mine, peer.nonces.theirs, peer.name), proof)) {
        this.reject(peer, `node ${peer.name} failed the cluster-secret challenge`);
        return;
      }
      this.linkReady(peer, "child");
      return;
    }
    if (
      peer.role === "pending" &&
      peer.state === "challenged" &&
      type === FrameType.challenge &&
      secret &&
      peer.nonces
    ) {
      // We are the child: check the parent's proof before proving ourselves.
      const challenge = parseChallenge(decodeControl(frame));
      if (
        !proofsEqual(parentProof(secret, peer.nonces.mine, challenge.nonce, challenge.name), challenge.proof)
      ) {
        peer.fail(ErrorCode.authFailed, "parent failed the cluster-secret challenge");
        this.log("error", "parent failed the cluster-secret challenge", { parent: challenge.name });
        return;
      }
      peer.name = challenge.name;
      peer.nonces.theirs = challenge.nonce;
      peer.state = "declaring";
      peer.send(
        encodeControl(FrameType.proof, {
          proof: childProof(secret, challenge.nonce, peer.nonces.mine, this.name),
        }),
      );
      return;
    }
    if (peer.role === "pending" && peer.state === "declaring" && type === FrameType.ready && peer.nonces) {
      parseReady(decodeControl(frame));
      this.linkReady(peer, "parent");
      return;
    }
    if (peer.role === "client" && peer.state === "declaring" && type === FrameType.declare) {
      this.declare(peer, parseDeclaration(decodeControl(frame)));
      return;
    }
    throw new ProtocolError(
      peer.state === "ready" ? ErrorCode.protocolError : ErrorCode.notReady,
      `unexpected frame type ${type} in state ${peer.state}`,
    );
  }

  private reject(peer: Peer, reason: string): void {
    this.metrics.authFailures++;
    this.log("warn", "handshake rejected", { remote: peer.remote, name: peer.name || undefined, reason });
    peer.fail(ErrorCode.authFailed, reason);
  }

  private async authenticate(peer: Peer, token: string | undefined): Promise<void> {
    const result = await this.options.auth.check(token, peer.remote);
    if (!peer.isOpen) return;
    if (!result.ok) {
      this.reject(peer, result.reason);
      return;
    }
    peer.role = "client";
    peer.state = "declaring";
    const held = peer.held;
    peer.held = [];
    try {
      for (const frame of held) this.onFrame(peer, frame);
    } catch (error) {
      this.metrics.protocolErrors++;
      const code = error instanceof ProtocolError ? error.code : ErrorCode.protocolError;
      peer.fail(code, (error as Error).message);
    }
  }

  private linkReady(peer: Peer, role: "child" | "parent"): void {
    if (role === "child") {
      const previous = this.children.get(peer.name);
      if (previous && previous !== peer)
        previous.fail(ErrorCode.nameConflict, `replaced by a new link from ${peer.name}`);
      this.children.set(peer.name, peer);
      peer.send(
        encodeControl(FrameType.ready, {
          node: this.name,
          connection: peer.id,
          heartbeatMs: this.heartbeatMs,
          maxFrameBytes: this.maxFrameBytes,
        }),
      );
    } else {
      this.parent = peer;
    }
    peer.role = role;
    peer.state = "ready";
    peer.nonces = undefined;
    this.links = [...this.links, peer];
    const full = this.table.addLink(peer);
    if (full.length > 0) peer.send(encodeControl(FrameType.interest, { add: full, remove: [] }));
    this.log("info", role === "child" ? "child node linked" : "linked to parent", {
      node: peer.name,
      remote: peer.remote,
    });
    if (role === "child") {
      const detail = { node: peer.name, parent: this.name, at: new Date().toISOString() };
      for (const listener of this.nodeEvents) listener("up", detail);
      this.publish("node.up", JSON.stringify(detail));
    }
  }

  private declare(peer: Peer, declaration: Declaration): void {
    const previousKeys = peer.keys;
    for (const event of peer.events) this.subscribers.get(event)?.delete(peer);
    peer.events = new Set(declaration.events);
    peer.tags = new Set(declaration.tags);
    peer.groups = new Set(declaration.groups);
    peer.channels = new Set(declaration.channels);
    peer.keys = declarationKeys(declaration);
    for (const event of peer.events) this.index(event).add(peer);
    // Add before removing so that keys kept across the change never flap to the other nodes.
    this.sendDeltas(this.table.addLocal(peer.keys));
    this.sendDeltas(this.table.removeLocal(previousKeys));
    peer.state = "ready";
    peer.send(
      encodeControl(FrameType.ready, {
        node: this.name,
        connection: peer.id,
        heartbeatMs: this.heartbeatMs,
        maxFrameBytes: this.maxFrameBytes,
      }),
    );
  }

  private index(event: string): Set<Membership> {
    let set = this.subscribers.get(event);
    if (!set) {
      set = new Set();
      this.subscribers.set(event, set);
    }
    return set;
  }

  private sendDeltas(deltas: Map<Peer, InterestDelta>): void {
    for (const [link, delta] of deltas) {
      if (link.state === "ready" && (delta.add.length > 0 || delta.remove.length > 0)) {
        link.send(encodeControl(FrameType.interest, delta));
      }
    }
  }

  private onClose(peer: Peer): void {
    this.peers.delete(peer.id);
    const reason = peer.closeReason ?? { code: "closed", message: "connection closed" };
    if (peer.role === "client") {
      for (const event of peer.events) this.subscribers.get(event)?.delete(peer);
      this.sendDeltas(this.table.removeLocal(peer.keys));
      return;
    }
    if (peer.role !== "child" && peer.role !== "parent") return;
    this.links = this.links.filter((link) => link !== peer);
    this.sendDeltas(this.table.removeLink(peer));
    if (peer.role === "parent") {
      if (this.parent === peer) this.parent = undefined;
      this.log("warn", "parent link lost", {
        parent: peer.name,
        reason: reason.code,
        message: reason.message,
      });
      return;
    }
    if (this.children.get(peer.name) !== peer) return;
    this.children.delete(peer.name);
    const down: NodeDownEvent = {
      node: peer.name,
      parent: this.name,
      reason: reason.code,
      message: reason.message,
      detectionMs: Date.now() - peer.lastSeen,
      at: new Date().toISOString(),
    };
    this.log("warn", "child node down", { ...down });
    for (const listener of this.nodeEvents) listener("down", { ...down });
    if (!this.stopping) this.publish("node.down", JSON.stringify(down));
  }

  /** `credit`: awake time since the last check, so that a stall of this process never drops its peers. */
  /**
   * A link to another node is back-pressure, not a slow consumer: when it holds half its limit, the sender
   * feeding it stops being read until the link drains, so a flooding publisher slows down (TCP pushes
   * back to it) instead of cutting a whole subtree off. Client consumers are still cut off at the limit.
   */
  private throttle(source: Peer, link: Peer): void {
    if (link.throttled.has(source)) return;
    link.throttled.add(source);
    source.pausedBy.add(link);
    if (source.pausedBy.size === 1) source.wire.pause();
  }

  /** The link drained (or closed): its senders read again unless another congested link holds them. */
  private release(link: Peer): void {
    for (const source of link.throttled) {
      source.pausedBy.delete(link);
      if (source.pausedBy.size === 0 && source.isOpen) {
        source.lastSeen = Date.now();
        source.wire.resume();
      }
    }
    link.throttled.clear();
  }

  private checkLiveness(credit: number): void {
    const now = Date.now();
    const ping = encodeControl(FrameType.ping);
    for (const peer of this.peers.values()) {
      // An auth check in flight is bounded by its own (hook) timeout, not by the client's heartbeats.
      if (peer.state === "closed" || peer.state === "authenticating") continue;
      // Safety net for back-pressure: never leave senders paused behind a link that has drained.
      if (peer.throttled.size > 0 && peer.pendingBytes() <= this.maxPendingBytes / 2) this.release(peer);
      // A sender we stopped reading (back-pressure) is not silent; its frames wait in the kernel.
      if (peer.pausedBy.size > 0) continue;
      if (peer.silence.measure(peer.lastSeen, now, credit) > 3 * this.heartbeatMs) {
        peer.fail(ErrorCode.heartbeatTimeout, `no frame for ${now - peer.lastSeen} ms (3 heartbeats)`);
        // A stopped process never reads the error: do not wait for its FIN.
        peer.destroy(ErrorCode.heartbeatTimeout, "heartbeat timeout");
      } else if (now - peer.lastSent >= this.heartbeatMs) {
        peer.send(ping);
      }
    }
  }

  // ---- routing ----

  private onRouted(peer: Peer, frame: Uint8Array, type: number): void {
    const header = decodeRoute(frame);
    if (type === FrameType.reply) {
      this.routeReply(frame, header, peer);
      return;
    }
    if (peer.role === "client") {
      if (header.origin !== this.name) {
        throw new ProtocolError(ErrorCode.protocolError, `origin must be this node's name "${this.name}"`);
      }
      if (type === FrameType.request && header.replyTo !== String(peer.id)) {
        throw new ProtocolError(ErrorCode.protocolError, "replyTo must be the connection id sent in READY");
      }
    }
    this.route(frame, header, type, peer);
  }

  /**
   * The links whose interest matches a target. A flood repeats one target frame after frame: the answer
   * for the previous target is kept until the target or the interest table changes.
   */
  private linksFor(header: RouteHeader): readonly Peer[] {
    const last = this.lastRoute;
    if (
      last.version === this.table.version &&
      last.event === header.event &&
      last.node === header.node &&
      last.tag === header.tag &&
      last.group === header.group &&
      last.channel === header.channel
    ) {
      return last.links;
    }
    const links = this.links.filter((link) => interestMatches(this.table.interestOf(link), header));
    this.lastRoute = {
      version: this.table.version,
      event: header.event,
      node: header.node,
      tag: header.tag,
      group: header.group,
      channel: header.channel,
      links,
    };
    return links;
  }

  /** Sends a PUBLISH or REQUEST frame toward every receiver, each link and client at most once. */
  private route(frame: Uint8Array, header: RouteHeader, type: number, source: Peer | undefined): void {
    let delivered = 0;
    for (const link of this.linksFor(header)) {
      if (link === source) continue;
      if (link.send(frame)) delivered++;
      if (source && link.pendingBytes() > this.maxPendingBytes / 2) this.throttle(source, link);
    }
    if (!header.node || header.node === this.name) {
      delivered += this.deliverTo(this.subscribers.get(header.event), frame, header, type, source);
      if (header.event !== WILDCARD) {
        delivered += this.deliverTo(this.subscribers.get(WILDCARD), frame, header, type, source);
      }
    }
    if (delivered > 0) return;
    this.metrics.unrouted++;
    const fromOrigin = source === undefined || source.role === "client";
    if (type === FrameType.request && fromOrigin) {
      const answer = encodeRouted(
        FrameType.reply,
        { id: header.id, event: header.event, origin: this.name, node: this.name, replyTo: header.replyTo },
        new Uint8Array(0),
        FrameFlag.noResponders,
      );
      this.routeReply(answer, decodeRoute(answer), undefined);
    }
  }

  private deliverTo(
    set: Set<Membership> | undefined,
    frame: Uint8Array,
    header: RouteHeader,
    type: number,
    source: Peer | undefined,
  ): number {
    if (!set) return 0;
    let delivered = 0;
    for (const member of set) {
      if (member === source || !membershipMatches(member, header)) continue;
      if (member instanceof Peer) {
        if (member.state === "ready" && member.send(frame)) delivered++;
      } else {
        delivered++;
        this.deliverLocal(member as LocalSubscription, frame, header, type);
      }
    }
    return delivered;
  }

  private deliverLocal(
    subscription: LocalSubscription,
    frame: Uint8Array,
    header: RouteHeader,
    type: number,
  ): void {
    const reply =
      type === FrameType.request
        ? (payload: Payload) => {
            const answer = encodeRouted(
              FrameType.reply,
              {
                id: header.id,
                event: header.event,
                origin: this.name,
                node: header.origin,
                replyTo: header.replyTo,
              },
              toBytes(payload),
            );
            this.routeReply(answer, decodeRoute(answer), undefined);
          }
        : undefined;
    const message = createMessage(
      type === FrameType.request ? "request" : "publish",
      header,
      payloadOf(frame),
      reply,
    );
    try {
      subscription.handler(message);
    } catch (error) {
      this.log("error", "in-process subscriber threw", {
        event: header.event,
        error: (error as Error).message,
      });
    }
  }

  private routeReply(frame: Uint8Array, header: RouteHeader, source: Peer | undefined): void {
    if (header.node === this.name) {
      const id = Number(header.replyTo);
      if (id === 0) {
        this.settleReply(frame, header);
        return;
      }
      const peer = this.peers.get(id);
      if (peer?.role === "client" && peer.send(frame)) return;
      this.metrics.unrouted++;
      return;
    }
    const key = nodeKey(header.node);
    for (const link of this.links) {
      if (link !== source && this.table.interestOf(link).has(key)) {
        link.send(frame);
        return;
      }
    }
    this.metrics.unrouted++;
  }

  private settleReply(frame: Uint8Array, header: RouteHeader): void {
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

  // ---- in-process API ----

  /** Publishes from this node. */
  publish(event: string, payload?: Payload, target: Target = {}): void {
    const frame = encodeRouted(FrameType.publish, { event, origin: this.name, ...target }, toBytes(payload));
    this.route(frame, decodeRoute(frame), FrameType.publish, undefined);
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
    const declaration: Declaration = {
      events: [event],
      tags: [...new Set([...this.tags, ...(membership.tags ?? [])])],
      groups: membership.groups ?? [],
      channels: membership.channels ?? [],
    };
    const subscription: LocalSubscription = {
      events: new Set(declaration.events),
      tags: new Set(declaration.tags),
      groups: new Set(declaration.groups),
      channels: new Set(declaration.channels),
      handler,
    };
    const keys = declarationKeys(declaration);
    this.local.add(subscription);
    this.index(event).add(subscription);
    this.sendDeltas(this.table.addLocal(keys));
    return () => {
      if (!this.local.delete(subscription)) return;
      this.subscribers.get(event)?.delete(subscription);
      this.sendDeltas(this.table.removeLocal(keys));
    };
  }

  /** Answers requests for `event` with what `handler` returns (errors are logged, not answered). */
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void {
    return this.subscribe(event, (message) => {
      const reply = message.reply;
      if (!reply) return;
      Promise.resolve()
        .then(() => handler(message))
        .then(reply, (error: unknown) =>
          this.log("error", "request handler failed", { event, error: (error as Error).message }),
        );
    });
  }

  /** Sends a request and resolves with the first reply. */
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

  /** Sends a request and gathers replies until `max` arrived or the timeout passed. */
  requestMany(
    event: string,
    target: Target,
    payload: Payload | undefined,
    timeoutMs = 5000,
    max = Number.POSITIVE_INFINITY,
  ): Promise<Message[]> {
    const id = this.nextRequestId++;
    if (this.nextRequestId > 0xffffffff) this.nextRequestId = 1;
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
      const frame = encodeRouted(
        FrameType.request,
        { id, event, origin: this.name, replyTo: "0", ...target },
        toBytes(payload),
      );
      this.route(frame, decodeRoute(frame), FrameType.request, undefined);
    });
  }
}
