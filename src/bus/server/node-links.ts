// This node's neighbours in the tree: its children by name and its parent. When a child links or drops,
// node.up / node.down is told to in-process listeners (the daemon) and published on the bus, so that any
// subscriber in the tree learns when a subtree joins or leaves.
import type { Payload } from "../message.js";
import { ErrorCode } from "../protocol/index.js";
import type { Logger } from "./log.js";
import type { Peer } from "./peer.js";

export interface NodeDownEvent {
  node: string;
  parent: string;
  reason: string;
  message: string;
  /** Milliseconds between the last frame heard from the child and the moment it was declared down. */
  detectionMs: number;
  at: string;
}

/** "moved": a child left this link on purpose to link under another node; it is not down. */
export type NodeEventListener = (event: "up" | "down" | "moved", detail: Record<string, unknown>) => void;

export class NodeLinks {
  private readonly children = new Map<string, Peer>();
  private parent: Peer | undefined;
  private readonly listeners: NodeEventListener[] = [];

  constructor(
    /** This node's name: the `parent` of every event. */
    private readonly name: string,
    private readonly publish: (event: string, payload: Payload) => void,
    private readonly log: Logger,
  ) {}

  on(listener: NodeEventListener): void {
    this.listeners.push(listener);
  }

  get childCount(): number {
    return this.children.size;
  }

  get parentName(): string | undefined {
    return this.parent?.state === "ready" ? this.parent.name : undefined;
  }

  get parentConnected(): boolean {
    return this.parent?.state === "ready";
  }

  /** The ready parent link, if any. */
  get parentLink(): Peer | undefined {
    return this.parent?.state === "ready" ? this.parent : undefined;
  }

  /** The ready links to children. */
  childLinks(): IterableIterator<Peer> {
    return this.children.values();
  }

  /** Leaves the parent on purpose (re-parented): it publishes no node.down for this node. */
  dropParent(reason: string): void {
    this.parent?.fail(ErrorCode.moved, reason);
  }

  /**
   * A link passed the challenge. A child replaces an older link under the same name; a parent replaces
   * the one this node held (it moves back from a fallback to its own parent): the old link is returned,
   * already told `moved`, for the caller to stop routing over it.
   */
  add(peer: Peer, role: "child" | "parent"): Peer | undefined {
    if (role === "parent") {
      const previous = this.parent;
      this.parent = peer;
      if (!previous || previous === peer || previous.state === "closed") return undefined;
      this.log("info", "moving to another parent", { from: previous.name, to: peer.name });
      previous.fail(ErrorCode.moved, `${this.name} links under ${peer.name} now`);
      return previous;
    }
    const previous = this.children.get(peer.name);
    if (previous && previous !== peer)
      previous.fail(ErrorCode.nameConflict, `replaced by a new link from ${peer.name}`);
    this.children.set(peer.name, peer);
    return undefined;
  }

  /** The link is ready and routes: logged, and node.up for a child. */
  announce(peer: Peer): void {
    const child = peer.role === "child";
    this.log("info", child ? "child node linked" : "linked to parent", {
      node: peer.name,
      remote: peer.remote,
    });
    if (!child) return;
    const detail = { node: peer.name, parent: this.name, at: new Date().toISOString() };
    for (const listener of this.listeners) listener("up", detail);
    this.publish("node.up", JSON.stringify(detail));
  }

  /**
   * A ready link closed: node.down for a child that was still the one under its name. While this node
   * `stopping`, the children's links end by its own doing: listeners are told, nothing is published.
   */
  remove(peer: Peer, stopping: boolean): void {
    const reason = peer.closeReason ?? { code: "closed", message: "connection closed" };
    if (peer.role === "parent") {
      if (this.parent !== peer) return;
      this.parent = undefined;
      this.log(reason.code === ErrorCode.moved ? "info" : "warn", "parent link lost", {
        parent: peer.name,
        reason: reason.code,
        message: reason.message,
      });
      return;
    }
    if (this.children.get(peer.name) !== peer) return;
    this.children.delete(peer.name);
    if (reason.code === ErrorCode.moved) {
      const moved = {
        node: peer.name,
        parent: this.name,
        message: reason.message,
        at: new Date().toISOString(),
      };
      this.log("info", "child node moved away", { ...moved });
      for (const listener of this.listeners) listener("moved", moved);
      return;
    }
    const down: NodeDownEvent = {
      node: peer.name,
      parent: this.name,
      reason: reason.code,
      message: reason.message,
      detectionMs: Date.now() - peer.lastSeen,
      at: new Date().toISOString(),
    };
    this.log("warn", "child node down", { ...down });
    for (const listener of this.listeners) listener("down", { ...down });
    if (!stopping) this.publish("node.down", JSON.stringify(down));
  }
}
