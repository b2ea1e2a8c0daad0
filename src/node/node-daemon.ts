// A node of the tree with everything it runs: the bus node, its agent over the node-scope kinds it
// is handed, and the handler that lets the node-link controller move it under another parent.
import { join } from "node:path";
import { NodeAgent } from "../agent/node-agent.js";
import type { ImageEngine } from "../drivers/docker-images.js";
import { errorMessage, UsageError } from "../errors.js";
import { ImageService } from "../images/image-service.js";
import type { BuildIdentity } from "../model/build-identity.js";
import type { ImageSource } from "../model/resources.js";
import { AGENT_EVENTS, type ChildLink, type NodeState, REPARENT_EVENT } from "../model/wire.js";
import type { NodeController } from "../reconcile/controller.js";
import { setAsideUnreadableStackFiles } from "../state/stack-files.js";
import { ContainerStatsPublisher } from "./container-stats.js";
import { LinkMetrics } from "./link-metrics.js";
import { ParentStore, parseReparent } from "./parent-store.js";
import { TreeNode, type TreeNodeOptions } from "./tree-node.js";
import { renderUsageMetrics } from "./usage-metrics.js";

export type NodeDaemonOptions = TreeNodeOptions & {
  /** Where the agent keeps its slice and inventory ($TREESCALE_HOME). */
  home: string;
  /** false: drift is reported, never healed. */
  heal: boolean;
  /** The node-scope kinds the agent runs; none: a pure bus node (e.g. on a machine without Docker). */
  controllers: readonly NodeController[];
  /** The agent observes and plans but never acts (an embedded node started to look, not to apply). */
  readOnly?: boolean;
  resyncMs?: number;
  /** The engine images are pushed into and fetched from (image push, image_source = "tree"); none: not part of it. */
  images?: ImageEngine;
  /** How `treescale build` made this node: its agent says so in agent.state. */
  build?: () => Promise<BuildIdentity | undefined>;
  /** Where containers that do not name their image_source get a missing image (default: registry). */
  imageSource?: ImageSource;
};

export class NodeDaemon {
  readonly node: TreeNode;
  readonly agent: NodeAgent | undefined;
  /** The node's container.stats, while it has an agent. */
  readonly stats: ContainerStatsPublisher | undefined;
  readonly images: ImageService | undefined;
  readonly #stops: (() => void)[] = [];
  readonly #children = new Map<string, ChildLink>();
  readonly #parentStore: ParentStore;
  readonly #links = new LinkMetrics();
  readonly #options: NodeDaemonOptions;
  #stopping = false;

  constructor(options: NodeDaemonOptions) {
    this.#options = options;
    this.node = new TreeNode(options);
    this.#parentStore = new ParentStore(options.home, options.name);
    const images = options.images;
    this.images = images
      ? new ImageService({
          name: options.name,
          tags: options.tags ?? [],
          bus: this.node,
          engine: images,
          dir: join(options.home, "images"),
          children: () => [...this.#children.values()].filter((c) => c.status === "up").map((c) => c.node),
          parent: () => this.node.parentName,
          ...(options.log ? { log: (line: string) => options.log?.("info", line) } : {}),
        })
      : undefined;
    const imageService = this.images;
    this.agent =
      options.controllers.length > 0
        ? new NodeAgent({
            name: options.name,
            tags: options.tags ?? [],
            home: options.home,
            controllers: options.controllers,
            bus: this.node,
            heal: options.heal,
            ...(options.readOnly ? { readOnly: true } : {}),
            parent: () => this.node.parentName,
            address: () => this.node.linkAddress,
            listen: () => this.node.describe().listen,
            children: () => [...this.#children.values()],
            ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
            ...(imageService
              ? {
                  treeImages: {
                    byDefault: options.imageSource === "tree",
                    fetch: async (reference: string) => {
                      await imageService.fetch({ reference, for: options.name });
                    },
                  },
                }
              : {}),
            ...(options.log ? { log: (line: string) => options.log?.("info", line) } : {}),
            ...(options.build ? { build: options.build } : {}),
          })
        : undefined;
    const agent = this.agent;
    this.stats = agent
      ? new ContainerStatsPublisher({ node: options.name, bus: this.node, sources: () => agent.usage() })
      : undefined;
    if (agent) this.node.problems = () => agent.blind().map((why) => `cannot see ${why}`);
    const stats = this.stats;
    this.node.metrics = async (signal) =>
      this.#links.render(options.name) +
      (agent?.metrics() ?? "") +
      (stats ? renderUsageMetrics(options.name, await stats.scrape(signal)) : "");
  }

  async start(): Promise<void> {
    // A parent set by the node-link controller outlives a restart: the tree's last word wins over --parent.
    const moved = await this.#parentStore.read();
    if (moved) this.node.setParent({ host: moved.host, port: moved.port });
    this.node.bus.onNodeEvent((event, detail) => {
      const name = String(detail.node);
      // A child that moved under another node is that node's child now, neither up nor down here.
      if (event === "moved") {
        this.#children.delete(name);
        this.images?.childDown(name);
        return;
      }
      const reason = typeof detail.reason === "string" ? detail.reason : undefined;
      if (event === "up") this.#links.linked(name);
      else if (event === "down") {
        this.#links.down(name, typeof detail.detectionMs === "number" ? detail.detectionMs : undefined);
        this.images?.childDown(name);
      } else this.#links.moved(name);
      const tags = this.#children.get(name)?.tags;
      this.#children.set(name, {
        node: name,
        status: event,
        since: new Date().toISOString(),
        ...(tags ? { tags } : {}),
        ...(event === "down" && reason ? { reason } : {}),
      });
      if (event === "up") void this.#learnTags(name);
    });
    try {
      await this.node.start();
    } catch (error) {
      // Whatever did open (the bus listener, say) must close, or the process lingers half-started.
      await this.node.stop().catch(() => undefined);
      throw listenError(error);
    }
    this.#stops.push(
      this.node.handle(REPARENT_EVENT, async (request) => {
        const parsed = parseReparent(request);
        if ("reason" in parsed) return JSON.stringify({ accepted: false, reason: parsed.reason });
        try {
          await this.#parentStore.write(parsed.request);
        } catch (error) {
          return JSON.stringify({
            accepted: false,
            reason: `cannot record the new parent: ${errorMessage(error)}`,
          });
        }
        const { host, port } = parsed.request;
        // The reply travels over the old parent link: let it leave before that link is dropped.
        setTimeout(() => this.node.setParent({ host, port }), 50).unref();
        return JSON.stringify({ accepted: true, parent: parsed.request.parent });
      }),
    );
    this.images?.start();
    if (!this.agent) return;
    try {
      for (const file of await setAsideUnreadableStackFiles(this.#options.home, this.node.name)) {
        this.#options.log?.(
          "error",
          "unreadable state file set aside; the agent starts from what the engine runs, apply again to restore the slice",
          {
            file: file.path,
            movedTo: file.movedTo,
            reason: file.reason,
          },
        );
      }
      await this.agent.start();
      this.stats?.start();
    } catch (error) {
      // The listener is open: left so, the process would linger without an agent instead of exiting.
      await this.node.stop().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Asks a child that just linked for its tags, so a plan made while it is down still places by
   * them. Right after the link its agent's interest may not have arrived yet: ask a few times.
   */
  async #learnTags(child: string): Promise<void> {
    for (let attempt = 0; attempt < 10 && !this.#stopping; attempt++) {
      try {
        const reply = await this.node.request(AGENT_EVENTS.state, { node: child }, undefined, 2000);
        const link = this.#children.get(child);
        if (link) this.#children.set(child, { ...link, tags: reply.json<NodeState>().tags });
        return;
      } catch {
        // No answer yet, or a bus-only child without an agent (then its tags place nothing).
        await new Promise((resolve) => setTimeout(resolve, 300).unref());
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const stop of this.#stops.splice(0)) stop();
    this.stats?.stop();
    this.images?.stop();
    await this.agent?.stop();
    await this.node.stop();
  }
}

/** A port in use or not allowed is the user's to fix, not a bug: say which and how. */
function listenError(error: unknown): unknown {
  const { code, address, port } = (error ?? {}) as { code?: string; address?: string; port?: number };
  if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
    const where = address && port !== undefined ? `${address}:${port}` : "the address";
    const why =
      code === "EADDRINUSE" ? "is in use" : code === "EACCES" ? "needs privileges" : "is not on this machine";
    return new UsageError(`cannot listen on ${where}: it ${why}; choose another with --listen or --http`, {
      cause: error,
    });
  }
  return error;
}
