// A node's agent over an in-memory engine, for the tree benchmark's fleet apply: the real NodeAgent and
// container controller (plan, execute, observe through the engine's events, report over the bus), with
// the engine the agent unit tests use (test/unit/agent/fake-engine.ts), which passes the same contract
// suite as the Docker driver. Containers cost a map entry: 10,000 of them fit on one machine.
import { join } from "node:path";
import { containerController } from "../../controllers/container/index.js";
import { NodeAgent } from "../../src/agent/node-agent.js";
import type { ChildLink } from "../../src/model/wire.js";
import type { TreeNode } from "../../src/node/tree-node.js";
import { systemClock } from "../../src/util/clock.js";
import { FakeEngine } from "../../test/unit/agent/fake-engine.js";

export interface FakeAgent {
  agent: NodeAgent;
  engine: FakeEngine;
}

/**
 * The node's children as its daemon tracks them (src/node/node-daemon.ts), which its agent reports in its
 * state: a fleet apply gathers states until every reported child has answered. Call before node.start().
 */
export function watchChildren(node: TreeNode): () => ChildLink[] {
  const children = new Map<string, ChildLink>();
  node.bus.onNodeEvent((event, detail) => {
    const name = String(detail.node);
    if (event === "moved") children.delete(name);
    else children.set(name, { node: name, status: event, since: new Date().toISOString() });
  });
  return () => [...children.values()];
}

/** Starts an agent for `node`, keeping its slices under `dir`/<name>; its engine starts empty. */
export async function startFakeAgent(
  node: TreeNode,
  tags: string[],
  dir: string,
  children: () => ChildLink[],
): Promise<FakeAgent> {
  const engine = new FakeEngine(systemClock);
  const agent = new NodeAgent({
    name: node.name,
    tags,
    home: join(dir, node.name),
    controllers: [
      containerController({
        drivers: () => ({ engine, events: engine }),
        // As the CLI's registry: a burst of events costs one list per tenth of a second.
        minListIntervalMs: 100,
      }),
    ],
    bus: node,
    heal: true,
    parent: () => node.parentName,
    children,
  });
  await agent.start();
  return { agent, engine };
}

/** Containers running on these engines. */
export function running(agents: Iterable<FakeAgent>): number {
  let count = 0;
  for (const { engine } of agents) {
    for (const container of engine.containers.values()) if (container.state === "running") count++;
  }
  return count;
}
