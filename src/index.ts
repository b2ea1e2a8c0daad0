// The library behind the `treescale` CLI, for programs that drive TreeScale themselves.
// The bus client alone is the lighter subpath "treescale/client"; the built-in kinds are
// "treescale/controllers" (this entry never imports a controller: callers choose the kinds).
export { connect } from "./bus/client/index.js";
export { DockerEngine } from "./drivers/docker.js";
export type { ContainerEngine } from "./drivers/engine.js";
export { ExitError, TreescaleError, UsageError } from "./errors.js";
export { planFleet } from "./fleet/fleet-plan.js";
export { renderFleetPlanText } from "./fleet/render.js";
export { formatIssue, type LoadResult, loadManifests, type ManifestIssue } from "./manifest/index.js";
export type { ObservedContainer } from "./model/observed.js";
export type { ContainerSpec, DesiredState, ServerSpec } from "./model/resources.js";
export type * from "./model/wire.js";
export { NodeDaemon } from "./node/node-daemon.js";
export { TreeNode } from "./node/tree-node.js";
export type * from "./reconcile/controller.js";
export { Registry } from "./reconcile/registry.js";
