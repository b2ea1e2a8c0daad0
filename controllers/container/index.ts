// The container kind: replicas of a spec on each node's Docker engine, placed by tags and names,
// recreated when their spec hash changes, rolled out under their update policy.
import type {
  ContainerEngine,
  ContainerLogReader,
  ContainerRestartCounter,
  ContainerStatsSource,
  EngineEventSource,
} from "../../src/drivers/engine.js";
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import type { NodeController } from "../../src/reconcile/controller.js";
import type { ContainerAction } from "./actions.js";
import {
  CONTAINER_WIDE_COLUMNS,
  containerActionJson,
  containerRows,
  describeContainerAction,
} from "./describe.js";
import { assignReplicas } from "./placement.js";
import { planContainers } from "./plan.js";
import { evaluateReadiness } from "./readiness.js";

/**
 * `stats`: the engine's own figures, for container.stats and /metrics; without it the node has none.
 * `logs`: where `treescale logs` reads a replica's output (absent: the kind has no logs to show).
 */
type Drivers = {
  engine: ContainerEngine;
  events: EngineEventSource;
  stats?: ContainerStatsSource;
  /** Where a container's restart count is read (absent: observed containers carry none). */
  restarts?: ContainerRestartCounter;
  logs?: ContainerLogReader;
};

export type ContainerControllerOptions = {
  /** Made on first use: planning and rendering never need an engine. */
  drivers(): Drivers | Promise<Drivers>;
  /** Actions in flight at once on one node (16: where Docker's start path saturates, bench/apply.ts). */
  concurrency?: number;
  stopTimeoutSeconds?: number;
  /** Lists of the engine at least this far apart while its events flood in (an apply of many containers). */
  minListIntervalMs?: number;
};

export type ContainerController = NodeController<ContainerSpec, ObservedContainer, ContainerAction>;

export function containerController(options: ContainerControllerOptions): ContainerController {
  return {
    kind: "container",
    scope: "node",
    nouns: ["containers", "container"],
    specs: (desired) => desired.containers,
    place: (specs, nodes) => assignReplicas(specs, nodes),
    // A server's image_source is the default of the containers placed on it; the container's own wins.
    // Not a hashed field: a default that changes recreates nothing, it decides the next missing image.
    specOn: (spec, server) =>
      spec.imageSource === undefined && server.imageSource !== undefined
        ? { ...spec, imageSource: server.imageSource }
        : spec,
    checkSpec,
    plan: planContainers,
    readiness: (entry, observed) => evaluateReadiness(entry, observed),
    describe: describeContainerAction,
    actionJson: containerActionJson,
    rows: containerRows,
    wideColumns: CONTAINER_WIDE_COLUMNS,
    rolling: (action) => (action.type === "recreate" ? action.spec.update : undefined),
    async runtime(host) {
      const [
        { engine, events, stats, logs, restarts },
        { executeContainerPlan },
        { ContainerInformer },
        { ContainerUsageSource },
      ] = await Promise.all([
        options.drivers(),
        import("./execute.js"),
        import("./informer.js"),
        import("./usage.js"),
      ]);
      const drivers = {
        engine,
        concurrency: options.concurrency ?? 16,
        stopTimeoutSeconds: options.stopTimeoutSeconds ?? 10,
        ...(host.treeImages ? { treeImages: host.treeImages } : {}),
      };
      let informer: InstanceType<typeof ContainerInformer> | undefined;
      return {
        observe: (context) =>
          (informer = new ContainerInformer({
            node: context.node,
            engine,
            events,
            ...(restarts ? { restarts } : {}),
            clock: context.clock,
            signal: context.signal,
            ...(options.minListIntervalMs !== undefined
              ? { minListIntervalMs: options.minListIntervalMs }
              : {}),
            onChange: context.onChange,
            onError: context.onError,
          })),
        execute: (actions, context) => executeContainerPlan(actions, context, drivers),
        ...(stats ? { usage: new ContainerUsageSource(stats, () => informer) } : {}),
        ...(logs
          ? {
              logs: (container, request, onLine, signal) =>
                logs.readLogs(container.id, request, onLine, { signal }),
            }
          : {}),
      };
    },
  };
}

/** What the agent relies on to plan; the sender's manifest loader validated the rest. */
function checkSpec(name: string, spec: unknown): string[] {
  if (typeof spec !== "object" || spec === null) return ["spec: must be an object"];
  const { name: specName, image } = spec as Record<string, unknown>;
  const issues: string[] = [];
  if (specName !== name) issues.push(`spec.name: must be "${name}"`);
  if (typeof image !== "string" || image === "") issues.push("spec.image: must be a non-empty string");
  return issues;
}
