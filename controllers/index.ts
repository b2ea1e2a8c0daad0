// The registry of kinds: adding one is a folder beside these and a line here. Only the
// composition root (src/cli/main.ts) imports this file.
import type { ContainerEngine, ContainerLogReader, EngineEventSource } from "../src/drivers/engine.js";
import type { Controller, RuntimeHost } from "../src/reconcile/controller.js";
import type { BalancerDrivers } from "./balancer/execute.js";
import { balancerController } from "./balancer/index.js";
import { containerController } from "./container/index.js";
import { nodeLinkController } from "./node-link/index.js";
import { type ServerControllerOptions, serverController } from "./server/index.js";

export type BuiltinOptions = {
  /** The node's engine, made on first use. */
  docker(): Promise<{ engine: ContainerEngine; events: EngineEventSource; logs?: ContainerLogReader }>;
  /** The nft and ipvsadm drivers and the node's IPVS record, made when a node's agent starts. */
  balancer(host: RuntimeHost): Promise<BalancerDrivers>;
  /** SSH, the node image and the tree's credentials, for servers the apply brings up. */
  server: Omit<ServerControllerOptions, "parallel">;
  concurrency?: number;
  stopTimeoutSeconds?: number;
};

export function builtinControllers(options: BuiltinOptions): Controller[] {
  return [
    containerController({
      drivers: options.docker,
      // 100 ms: a burst of events costs one list per tenth of a second, not one per 15 ms.
      minListIntervalMs: 100,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.stopTimeoutSeconds !== undefined ? { stopTimeoutSeconds: options.stopTimeoutSeconds } : {}),
    }),
    balancerController({ drivers: options.balancer }),
    nodeLinkController(),
    serverController(options.server),
  ];
}
