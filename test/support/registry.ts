// The kinds this version ships, as the fleet planner, renderers and `get` see them: planning never
// needs an engine, so the container kind's drivers throw if anything reaches for them.
import { containerController } from "../../controllers/container/index.js";
import { nodeLinkController } from "../../controllers/node-link/index.js";
import type { Controller } from "../../src/reconcile/controller.js";
import { Registry } from "../../src/reconcile/registry.js";

export function planningRegistry(...extra: Controller[]): Registry {
  return new Registry([
    containerController({
      drivers: () => {
        throw new Error("planning reached for the container kind's drivers");
      },
    }),
    nodeLinkController(),
    ...extra,
  ]);
}
