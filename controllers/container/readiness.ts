// Whether a resource's replicas on a node are ready: running, and healthy where Docker checks health.
// Pure, so every case is a unit test.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ContainerSpec } from "../../src/model/resources.js";
import type { Readiness } from "../../src/reconcile/controller.js";

const HEALTH_POLL_MS = 500;

export function evaluateReadiness(
  entry: { spec: ContainerSpec; replicas: readonly number[] },
  containers: readonly ObservedContainer[],
): Readiness {
  const wanted = new Set(entry.replicas);
  const mine = containers.filter((c) => c.resource === entry.spec.name && wanted.has(c.replica));
  const checked = entry.spec.healthcheck !== undefined;
  const ready = mine.filter((c) => c.state === "running" && (!checked || c.health === "healthy")).length;
  const unhealthy = mine.filter((c) => c.health === "unhealthy").map((c) => c.name);
  if (unhealthy.length > 0) {
    return {
      condition: "Stalled",
      reason: "Unhealthy",
      message: `${unhealthy.join(", ")} failing health checks`,
      ready,
      recheckAfterMs: HEALTH_POLL_MS * 4,
    };
  }
  if (ready < wanted.size) {
    return {
      condition: "Reconciling",
      reason: "WaitingForHealthy",
      message: `${ready}/${wanted.size} replicas ${checked ? "healthy" : "running"}`,
      ready,
      recheckAfterMs: HEALTH_POLL_MS,
    };
  }
  return {
    condition: "Ready",
    reason: "Converged",
    message: `${ready}/${wanted.size} replicas running`,
    ready,
  };
}
