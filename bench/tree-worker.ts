// One process of the tree benchmark (bench/tree.ts): it runs many real nodes (TreeNode: the bus server,
// routing, node links over real TCP on loopback) and answers the orchestrator over the IPC channel.
import type { Message } from "../src/bus/message.js";
import type { ChildLink } from "../src/model/wire.js";
import { TreeNode } from "../src/node/tree-node.js";
import { type FakeAgent, running, startFakeAgent, watchChildren } from "./support/fake-agent.js";

export interface NodeSpec {
  name: string;
  /** Where the parent listens, or the name of a node started earlier in this process. */
  parent: { host: string; port: number } | { local: string } | undefined;
  port: number;
  leaf: boolean;
  /** Subscribes to the root's ticks (only the subtree whose recovery is timed: others' ticks are load). */
  ticks: boolean;
}

export type Command =
  | { type: "start"; secret: string; heartbeatMs: number; nodes: NodeSpec[] }
  | { type: "status" }
  | { type: "publish"; from: string; event: string; node?: string }
  | { type: "watch"; prefix: string; after: number }
  | { type: "churn"; perSecond: number; seconds: number }
  | { type: "stats" }
  | { type: "agents"; dir: string }
  | { type: "engines" }
  | { type: "agents-stop" };

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

const nodes = new Map<string, TreeNode>();
/** Each node's children, as its agent reports them. */
const childrenOf = new Map<string, () => ChildLink[]>();
/** BENCH_TREE_LOG=REGEX: the nodes whose names match log to stderr (to see where a figure's time goes). */
const logged = process.env.BENCH_TREE_LOG ? new RegExp(process.env.BENCH_TREE_LOG) : undefined;
export const logTo =
  (name: string) =>
  (level: string, message: string, fields?: Record<string, unknown>): void => {
    process.stderr.write(`${now().toFixed(1)} ${name} ${level} ${message} ${JSON.stringify(fields ?? {})}\n`);
  };
const leaves: TreeNode[] = [];
/** Every node's agent, once the fleet apply's phase started them. */
const agents: FakeAgent[] = [];
/** Arrivals of each root broadcast (by sequence number) across this process's leaves. */
const arrivals = new Map<number, { count: number; last: number }>();
/** The nodes whose arrival of root ticks is being watched, and those that had a tick published after `after`. */
let watch: { after: number; waiting: Set<string>; watched: number; last: number } | undefined;

function send(message: object): void {
  process.send?.(message);
}

function onBroadcast(message: Message): void {
  const at = now();
  const seq = Number(message.text());
  const seen = arrivals.get(seq) ?? { count: 0, last: 0 };
  seen.count++;
  seen.last = Math.max(seen.last, at);
  arrivals.set(seq, seen);
  if (seen.count === leaves.length) {
    arrivals.delete(seq);
    send({ type: "broadcast", seq, last: seen.last });
  }
}

function onTick(name: string, message: Message): void {
  if (!watch || Number(message.text()) <= watch.after || !watch.waiting.delete(name)) return;
  watch.last = Math.max(watch.last, now());
  if (watch.waiting.size > 0) return;
  send({ type: "recovered", last: watch.last, nodes: watch.watched });
  watch = undefined;
}

async function start(command: Extract<Command, { type: "start" }>): Promise<void> {
  const clusterSecret = new TextEncoder().encode(command.secret);
  for (const spec of command.nodes) {
    const parent =
      spec.parent && "local" in spec.parent ? nodes.get(spec.parent.local)?.address : spec.parent;
    const node = new TreeNode({
      name: spec.name,
      listen: { host: "127.0.0.1", port: spec.port },
      ...(parent ? { parent } : {}),
      tags: spec.leaf ? ["leaf"] : [],
      clusterSecret,
      heartbeatMs: command.heartbeatMs,
      // 1,100 nodes forming at once on a shared 2-CPU machine stall each process for seconds at a time.
      limits: { handshakeTimeoutMs: 60_000 },
      ...(logged?.test(spec.name) ? { log: logTo(spec.name) } : {}),
    });
    childrenOf.set(spec.name, watchChildren(node));
    await node.start();
    nodes.set(spec.name, node);
    await new Promise((resolve) => setImmediate(resolve));
    if (spec.ticks) node.subscribe("bench.tick", (message) => onTick(spec.name, message));
    if (!spec.leaf) continue;
    leaves.push(node);
    node.subscribe("bench.down", onBroadcast);
    node.subscribe("bench.across", (message) =>
      send({ type: "across", at: now(), sent: Number(message.text()) }),
    );
    node.handle("bench.ping", () => "pong");
  }
  send({
    type: "started",
    addresses: Object.fromEntries([...nodes].map(([name, node]) => [name, node.address.port])),
  });
}

/** Subscribes and unsubscribes `perSecond` times a second across this process's leaves, each for 1 s. */
async function churn(perSecond: number, seconds: number): Promise<void> {
  const samples: { interest: Record<string, number[]>; rss: number; heap: number }[] = [];
  let counter = 0;
  const total = Math.round(perSecond * seconds);
  const began = performance.now();
  let issued = began;
  // Paced by the clock, not by the timer's ticks: a process that stalls catches up instead of losing
  // them, and stops at the total asked for (the time it took says whether it kept the pace).
  const timer = setInterval(() => {
    const owed = Math.min(total, Math.floor(((performance.now() - began) / 1000) * perSecond));
    for (; counter < owed; ) {
      const leaf = leaves[counter % leaves.length]!;
      const stop = leaf.subscribe(`churn.${counter++}`, () => {});
      setTimeout(stop, 1000);
    }
    if (counter === total) {
      issued = performance.now();
      clearInterval(timer);
    }
  }, 10);
  for (let second = 0; second < seconds || counter < total; second++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    samples.push(stats());
  }
  send({ type: "churned", subscriptions: counter, samples, seconds: (issued - began) / 1000 });
}

function stats(): { interest: Record<string, number[]>; rss: number; heap: number; nodes: number } {
  const interest: Record<string, number[]> = {};
  for (const [name, node] of nodes) {
    const depth = String(name.split("-").length);
    interest[depth] = [...(interest[depth] ?? []), node.bus.gauges().interestKeys];
  }
  const memory = process.memoryUsage();
  return { interest, rss: memory.rss, heap: memory.heapUsed, nodes: nodes.size };
}

process.on("message", (command: Command) => {
  switch (command.type) {
    case "start":
      void start(command);
      return;
    case "status":
      send({
        type: "status",
        parents: Object.fromEntries([...nodes].map(([name, node]) => [name, node.parentName ?? null])),
      });
      return;
    case "publish": {
      const node = nodes.get(command.from)!;
      const sent = now();
      node.publish(command.event, String(sent), command.node ? { node: command.node } : {});
      return;
    }
    case "watch": {
      const waiting = new Set([...nodes.keys()].filter((name) => name.startsWith(command.prefix)));
      watch = { after: command.after, waiting, watched: waiting.size, last: 0 };
      return;
    }
    case "churn":
      void churn(command.perSecond, command.seconds);
      return;
    case "stats":
      send({ type: "stats", ...stats() });
      return;
    case "agents":
      void Promise.all(
        [...nodes].map(([name, node]) =>
          startFakeAgent(
            node,
            node.bus.tags.has("leaf") ? ["leaf"] : [],
            command.dir,
            childrenOf.get(name)!,
          ).then((agent) => {
            agents.push(agent);
            return name;
          }),
        ),
      ).then((started) => send({ type: "agents", started: started.length }));
      return;
    case "engines":
      send({ type: "engines", running: running(agents) });
      return;
    case "agents-stop":
      void Promise.all(agents.splice(0).map(({ agent }) => agent.stop())).then(() =>
        send({ type: "agents-stopped" }),
      );
      return;
  }
});
