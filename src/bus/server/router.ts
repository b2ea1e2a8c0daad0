// The routing core of one node: the interest table, who on this node subscribed to what, and the
// forwarding of routed frames by header only — the same bytes go out that came in, to each link and each
// subscriber at most once. What a client sends is checked against its token's permissions first.
import { TreescaleError } from "../../errors.js";
import { createMessage, type Message } from "../message.js";
import type { BusMetrics } from "../metrics.js";
import {
  type Declaration,
  decodeRoute,
  ErrorCode,
  encodeDeliveryReport,
  encodeReplyError,
  encodeRouted,
  FrameFlag,
  FrameType,
  frameFlags,
  type InterestBody,
  isValidName,
  ProtocolError,
  PublishFlag,
  payloadOf,
  type RouteHeader,
} from "../protocol/index.js";
import type { RequestsInFlight } from "../requests-in-flight.js";
import {
  declarationKeys,
  eventKey,
  type InterestDelta,
  InterestTable,
  interestMatches,
  type Membership,
  membershipMatches,
  nodeKey,
  type RouteTarget,
  WILDCARD,
} from "../routing/interest.js";
import { throttle } from "./back-pressure.js";
import { interestFrames } from "./interest-frames.js";
import { InterestOutbox } from "./interest-outbox.js";
import type { Logger } from "./log.js";
import { Peer } from "./peer.js";
import { type EventPolicy, forbiddenMessage, missingList } from "./permissions.js";
import { ReplyRoutes } from "./reply-routes.js";

/** How long a request's replies are taken, and how many requests are remembered (see ReplyRoutes). */
const REPLY_TTL_MS = 5 * 60_000;
const MAX_ROUTED_REQUESTS = 65_536;
/** Distinct names remembered as valid, so that a flood naming the same few is not checked frame by frame. */
const MAX_VALID_NAMES = 4096;

interface LocalSubscription extends Membership {
  handler(message: Message): void;
}

export interface RouterOptions {
  name: string;
  /** Every connection by id: a reply goes to the client whose id its `replyTo` names. */
  peers: ReadonlyMap<number, Peer>;
  requests: RequestsInFlight;
  maxPendingBytes: number;
  /** Largest INTEREST frame this node sends. */
  interestFrameBytes: number;
  /** How long the keys of a lost link stay advertised to the others, for its subtree to re-link (interest-outbox.ts). */
  interestHoldMs: number;
  metrics: BusMetrics;
  log: Logger;
  /** What sending each event takes, and which events' requests only unrestricted clients receive. */
  policy: EventPolicy;
}

export class Router {
  private readonly name: string;
  private readonly peers: ReadonlyMap<number, Peer>;
  private readonly requests: RequestsInFlight;
  private readonly maxPendingBytes: number;
  private readonly interestFrameBytes: number;
  private readonly metrics: BusMetrics;
  private readonly log: Logger;
  private readonly policy: EventPolicy;
  private readonly table = new InterestTable<Peer>();
  private readonly outbox: InterestOutbox<Peer>;
  /** Links to other nodes (children and the parent) in the ready state. */
  private links: Peer[] = [];
  private readonly subscribers = new Map<string, Set<Membership>>();
  private readonly local = new Set<LocalSubscription>();
  private readonly replies = new ReplyRoutes<Peer>({ ttlMs: REPLY_TTL_MS, maxRequests: MAX_ROUTED_REQUESTS });
  private readonly validNames = new Set<string>();
  private lastRoute: RouteTarget & { version: number; links: readonly Peer[] } = {
    version: -1,
    event: "",
    node: "",
    tag: "",
    group: "",
    channel: "",
    links: [],
  };

  constructor(options: RouterOptions) {
    this.name = options.name;
    this.peers = options.peers;
    this.requests = options.requests;
    this.maxPendingBytes = options.maxPendingBytes;
    this.interestFrameBytes = options.interestFrameBytes;
    this.metrics = options.metrics;
    this.log = options.log;
    this.policy = options.policy;
    this.outbox = new InterestOutbox(options.interestFrameBytes, options.interestHoldMs);
    this.table.addLocal([nodeKey(this.name)]);
  }

  /** Events someone on this node (a client or in-process code) subscribes to. */
  get subscribedEvents(): number {
    return this.subscribers.size;
  }

  /** Routed requests whose replies are still accepted. */
  get replyRoutes(): number {
    return this.replies.size;
  }

  /** Number of keys in the interest table. */
  get interestKeys(): number {
    return this.table.size;
  }

  // ---- interest ----

  /** Whether anyone this node can reach (a client, in-process code, another node's side) subscribes to `event` by name. */
  interested(event: string): boolean {
    return this.table.count(eventKey(event)) > 0;
  }

  /** Calls `listener` when the first subscriber to `event` appears anywhere reachable, and when the last one leaves. */
  watchInterest(event: string, listener: (interested: boolean) => void): () => void {
    return this.table.watch(eventKey(event), listener);
  }

  /** A node link became ready: it routes from now on and learns this node's whole interest. */
  addLink(link: Peer): void {
    this.links = [...this.links, link];
    this.outbox.forget(link);
    const full = this.table.addLink(link);
    for (const frame of interestFrames({ add: full, remove: [] }, this.interestFrameBytes)) link.send(frame);
  }

  removeLink(link: Peer): void {
    this.links = this.links.filter((other) => other !== link);
    this.outbox.forget(link);
    // What may come back through another link within the grace: the nodes beyond the far one, re-linking
    // to their grandparent (or this node, to its own). The far node itself cannot when it died (it can
    // when it moved), nor can anything when it was alone on its side: those leave at once, so that a
    // request to a dead node still fails with no_responders rather than waiting out its timeout.
    const far = nodeKey(link.name);
    const moved = link.closeReason?.code === ErrorCode.moved;
    const alone = ![...this.table.interestOf(link)].some((key) => key.startsWith("n\t") && key !== far);
    const deltas = this.table.removeLink(link);
    if (moved || !alone) this.sendDeltas(deltas, moved ? () => true : (key) => key !== far);
    else this.sendDeltas(deltas);
  }

  /** An INTEREST frame from a node link. */
  applyInterest(link: Peer, interest: InterestBody): void {
    this.sendDeltas(this.table.applyLink(link, interest));
  }

  /** A client's (re)declaration replaces its events and memberships. */
  declare(peer: Peer, declaration: Declaration): void {
    const previousKeys = peer.keys;
    for (const event of peer.events) this.unindex(event, peer);
    peer.events = new Set(declaration.events);
    peer.tags = new Set(declaration.tags);
    peer.groups = new Set(declaration.groups);
    peer.channels = new Set(declaration.channels);
    peer.keys = declarationKeys(declaration);
    for (const event of peer.events) this.index(event).add(peer);
    // Add before removing so that keys kept across the change never flap to the other nodes.
    this.sendDeltas(this.table.addLocal(peer.keys));
    this.sendDeltas(this.table.removeLocal(previousKeys));
  }

  removeClient(peer: Peer): void {
    for (const event of peer.events) this.unindex(event, peer);
    this.sendDeltas(this.table.removeLocal(peer.keys));
  }

  /** Subscribes in-process code (one event, in `declaration`); returns the unsubscribe function. */
  subscribeLocal(declaration: Declaration, handler: (message: Message) => void): () => void {
    const subscription: LocalSubscription = {
      events: new Set(declaration.events),
      tags: new Set(declaration.tags),
      groups: new Set(declaration.groups),
      channels: new Set(declaration.channels),
      handler,
    };
    const keys = declarationKeys(declaration);
    this.local.add(subscription);
    for (const event of subscription.events) this.index(event).add(subscription);
    this.sendDeltas(this.table.addLocal(keys));
    return () => {
      if (!this.local.delete(subscription)) return;
      for (const event of subscription.events) this.unindex(event, subscription);
      this.sendDeltas(this.table.removeLocal(keys));
    };
  }

  private index(event: string): Set<Membership> {
    let set = this.subscribers.get(event);
    if (!set) {
      set = new Set();
      this.subscribers.set(event, set);
    }
    return set;
  }

  /** An event nobody here subscribes to any more is forgotten: clients may name any event, once each. */
  private unindex(event: string, member: Membership): void {
    const set = this.subscribers.get(event);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.subscribers.delete(event);
  }

  /** `held`: the removals that come from a lost link and wait for a grace period (interest-outbox.ts). */
  private sendDeltas(deltas: Map<Peer, InterestDelta>, held?: (key: string) => boolean): void {
    this.outbox.queue(deltas, held);
  }

  // ---- forwarding ----

  /** A PUBLISH, REQUEST or REPLY frame from a ready peer. */
  onRouted(peer: Peer, frame: Uint8Array, type: number): void {
    const header = decodeRoute(frame);
    if (peer.role === "client") this.checkNames(header);
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
      if (type === FrameType.publish) this.checkCounted(peer, frame, header);
      if (!this.authorize(peer, header, type)) return;
    }
    this.route(frame, header, type, peer);
  }

  /**
   * Whether a client's token allows it to send this PUBLISH or REQUEST. A refused PUBLISH ends the
   * connection with ERROR forbidden (nothing else can answer one); a refused REQUEST is answered with an
   * error reply naming the permission, and the connection stays.
   */
  private authorize(peer: Peer, header: RouteHeader, type: number): boolean {
    // The hot path: most connections (plain tokens, the CLI's embedded node) may send anything.
    if (peer.grant.permissions.unrestricted) return true;
    const permission = this.policy.toSend(header.event);
    if (peer.grant.permissions.allows(permission)) return true;
    const isRequest = type === FrameType.request;
    const message = forbiddenMessage(
      [permission],
      `${isRequest ? "a request" : "a publish"} of "${header.event}"`,
    );
    this.recordRefusal(peer, [permission], header.event);
    if (!isRequest) throw new ProtocolError(ErrorCode.forbidden, message);
    const answer = encodeRouted(
      FrameType.reply,
      { id: header.id, event: header.event, origin: this.name, node: this.name, replyTo: header.replyTo },
      encodeReplyError(new TreescaleError(ErrorCode.forbidden, message)),
      FrameFlag.handlerError,
    );
    this.routeReply(answer, decodeRoute(answer), undefined);
    return false;
  }

  /**
   * Counts a refusal in the metrics, and logs it once per missing permission(s) and connection (a client
   * retrying in a loop makes one line), naming the token by its label only.
   */
  recordRefusal(peer: Peer, permissions: readonly string[], event: string): void {
    this.metrics.refused(permissions);
    const missing = missingList(permissions);
    if (peer.refusalsLogged.has(missing)) return;
    peer.refusalsLogged.add(missing);
    this.log("warn", "client refused", { client: peer.grant.label, remote: peer.remote, missing, event });
  }

  /** A counted PUBLISH's reports go to the connection its `replyTo` names: it must be the publisher's own. */
  private checkCounted(peer: Peer, frame: Uint8Array, header: RouteHeader): void {
    const flags = frameFlags(frame);
    if (flags === 0) return;
    if ((flags & ~(PublishFlag.count | PublishFlag.probe)) !== 0 || (flags & PublishFlag.count) === 0) {
      throw new ProtocolError(
        ErrorCode.protocolError,
        `PUBLISH flags ${flags}: only count (1), or count and probe (3), are defined`,
      );
    }
    if (header.replyTo !== String(peer.id)) {
      throw new ProtocolError(
        ErrorCode.protocolError,
        "a counted PUBLISH's replyTo must be the connection id sent in READY",
      );
    }
  }

  /** Names in a client's routing header follow the rules of DECLARE: no whitespace, no NUL. */
  private checkNames(header: RouteHeader): void {
    for (const name of [header.event, header.node, header.tag, header.group, header.channel]) {
      if (name === "" || this.validNames.has(name)) continue;
      if (!isValidName(name)) {
        throw new ProtocolError(
          ErrorCode.protocolError,
          `invalid name ${JSON.stringify(name.slice(0, 40))} in the routing header: names hold no whitespace or NUL`,
        );
      }
      if (this.validNames.size >= MAX_VALID_NAMES) this.validNames.clear();
      this.validNames.add(name);
    }
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

  /**
   * Sends a PUBLISH or REQUEST frame toward every receiver, each link and client at most once. `source`
   * is undefined for frames from in-process code. A counted PUBLISH is reported to its publisher: how many
   * subscribers here got it, and which nodes it went on to (a probe reaches no subscriber, only counts).
   */
  route(frame: Uint8Array, header: RouteHeader, type: number, source: Peer | undefined): void {
    const flags = type === FrameType.publish ? frameFlags(frame) : 0;
    const counted = (flags & PublishFlag.count) !== 0;
    const probe = counted && (flags & PublishFlag.probe) !== 0;
    // A request remembers the connections it went to: only they may answer it. A counted PUBLISH
    // remembers its links: only the nodes behind them report on it.
    const hops: Peer[] | undefined = type === FrameType.request ? [] : undefined;
    const forwarded: Peer[] | undefined = counted ? [] : undefined;
    let delivered = 0;
    for (const link of this.linksFor(header)) {
      if (link === source) continue;
      if (link.send(frame)) {
        delivered++;
        hops?.push(link);
        forwarded?.push(link);
      }
      if (source && link.pendingBytes() > this.maxPendingBytes / 2) throttle(source, link);
    }
    let subscribers = 0;
    if (!header.node || header.node === this.name) {
      const named = this.subscribers.get(header.event);
      subscribers += this.deliverTo(named, frame, header, type, source, false, hops, probe);
      if (header.event !== WILDCARD) {
        const wildcard = this.subscribers.get(WILDCARD);
        subscribers += this.deliverTo(wildcard, frame, header, type, source, true, hops, probe);
      }
    }
    delivered += subscribers;
    if (hops) this.replies.record(header, hops);
    if (forwarded) {
      this.replies.record(header, forwarded);
      this.reportDelivery(header, subscribers, forwarded);
    }
    if (delivered > 0 || probe) return;
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

  /** Tells a counted PUBLISH's publisher what this node did with it. */
  private reportDelivery(header: RouteHeader, subscribers: number, forwarded: readonly Peer[]): void {
    this.replyFrom(
      header,
      encodeDeliveryReport({ node: this.name, subscribers, forwardedTo: forwarded.map((link) => link.name) }),
      FrameFlag.deliveryReport,
    );
  }

  /** Sends this node's REPLY to the sender of `header` (a request, or a counted publish). */
  private replyFrom(header: RouteHeader, payload: Uint8Array, flags: number): void {
    const answer = encodeRouted(
      FrameType.reply,
      { id: header.id, event: header.event, origin: this.name, node: header.origin, replyTo: header.replyTo },
      payload,
      flags,
    );
    this.routeReply(answer, decodeRoute(answer), undefined);
  }

  private deliverTo(
    set: Set<Membership> | undefined,
    frame: Uint8Array,
    header: RouteHeader,
    type: number,
    source: Peer | undefined,
    /** For the `*` subscribers: who also declared the event by name got the frame already. */
    wildcard: boolean,
    /** For a request: the connections it was delivered to. */
    hops: Peer[] | undefined,
    /** Count who would receive it, deliver to nobody. */
    probe: boolean,
  ): number {
    if (!set) return 0;
    let delivered = 0;
    for (const member of set) {
      if (member === source || (wildcard && member.events.has(header.event))) continue;
      if (!membershipMatches(member, header)) continue;
      if (member instanceof Peer) {
        // A reserved event's request is the node's agent's to answer: a client may see it only with `*`.
        if (type === FrameType.request && !this.mayAnswer(member, header.event)) continue;
        if (member.state === "ready" && (probe || member.send(frame))) {
          delivered++;
          hops?.push(member);
        }
      } else {
        delivered++;
        if (!probe) this.deliverLocal(member as LocalSubscription, frame, header, type);
      }
    }
    return delivered;
  }

  /** Whether a connection may receive (and so answer) a request of `event`; links carry anything. */
  private mayAnswer(peer: Peer, event: string): boolean {
    return peer.role !== "client" || peer.grant.permissions.unrestricted || !this.policy.reserved(event);
  }

  private deliverLocal(
    subscription: LocalSubscription,
    frame: Uint8Array,
    header: RouteHeader,
    type: number,
  ): void {
    const respond =
      type === FrameType.request
        ? (payload: Uint8Array, flags: number) => this.replyFrom(header, payload, flags)
        : undefined;
    const message = createMessage(
      type === FrameType.request ? "request" : "publish",
      header,
      payloadOf(frame),
      respond,
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

  /** "No responders" comes from no connection, a delivery report from no client; other replies from a hop. */
  private takesReply(frame: Uint8Array, header: RouteHeader, source: Peer): boolean {
    const flags = frameFlags(frame);
    if ((flags & FrameFlag.noResponders) !== 0) return false;
    if ((flags & FrameFlag.deliveryReport) !== 0 && source.role === "client") return false;
    return this.replies.allows(header, source);
  }

  /**
   * A REPLY goes back along the path to its requester: a client here, in-process code, or a link. From a
   * connection (`source`), it is taken only when its request was delivered there; "no responders" is said
   * by the requester's own node only, never by a connection.
   */
  private routeReply(frame: Uint8Array, header: RouteHeader, source: Peer | undefined): void {
    if (source !== undefined && !this.takesReply(frame, header, source)) {
      this.metrics.repliesRefused++;
      return;
    }
    if (header.node === this.name) {
      const id = Number(header.replyTo);
      if (id === 0) {
        this.requests.settle(frame, header);
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
}
