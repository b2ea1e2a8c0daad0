// How container actions read in a plan and in JSON, and how containers read in `get`.
import type { ObservedContainer } from "../../src/model/observed.js";
import type { ActionLine } from "../../src/reconcile/controller.js";
import { naturalCompare } from "../../src/util/natural-order.js";
import type { ContainerAction } from "./actions.js";

export function describeContainerAction(action: ContainerAction): ActionLine {
  const line: ActionLine = {
    effect: action.type,
    verb: action.type,
    target: action.name,
    reason: action.reason,
  };
  return action.type === "recreate" && action.changes !== undefined
    ? { ...line, changes: action.changes }
    : line;
}

export function containerActionJson(action: ContainerAction): Record<string, unknown> {
  const base = {
    action: action.type,
    node: action.node,
    stack: action.stack,
    resource: `container/${action.resource}`,
    replica: action.replica,
    name: action.name,
    reason: action.reason,
  };
  switch (action.type) {
    case "create":
      return { ...base, hash: action.hash };
    case "recreate":
      return {
        ...base,
        containerId: action.containerId,
        hash: action.hash,
        changed: action.changed,
        // JSON has no undefined: an added or removed value reads null (env and label values are strings).
        ...(action.changes !== undefined
          ? {
              changes: action.changes.map((change) => ({
                ...change,
                from: change.from ?? null,
                to: change.to ?? null,
              })),
            }
          : {}),
      };
    case "start":
      return { ...base, containerId: action.containerId };
    case "remove":
      return { ...base, containerId: action.containerId, cause: action.cause };
  }
}

/** Columns only `get containers -o wide` prints: where a replica is reached, what exactly it runs. */
export const CONTAINER_WIDE_COLUMNS = ["restarts", "ip", "ports", "imageId", "labels", "created"] as const;

export function containerRows(containers: readonly ObservedContainer[]): Record<string, unknown>[] {
  return (
    [...containers]
      // Replica names sort by number (`web-3` before `web-27`), as people count.
      .sort((a, b) => naturalCompare(a.name, b.name) || naturalCompare(a.node, b.node))
      .map((c) => ({
        name: c.name,
        stack: c.stack,
        resource: c.resource,
        node: c.node,
        replica: c.replica,
        image: c.image,
        state: c.state,
        health: c.health ?? "",
        id: c.id.slice(0, 12),
        // The engine's RestartCount; null until the node has read it.
        restarts: c.restarts,
        ip: c.ip ?? null,
        ports: (c.published ?? []).map(
          (p) => `${p.hostIp ? `${p.hostIp}:` : ""}${p.hostPort}->${p.port}/${p.protocol}`,
        ),
        imageId: c.imageId?.replace(/^sha256:/, "").slice(0, 12) ?? null,
        labels: c.labels ?? {},
        created: c.createdAt,
      }))
  );
}
