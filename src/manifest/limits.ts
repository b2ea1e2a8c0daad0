// Ceilings that keep bad input cheap (issue #10): a typo such as `replicas = 1000000000` is refused at
// load, located at its field, instead of planning laying out a billion replicas until V8 gives up.
import type { DesiredState } from "../model/resources.js";
import { ISSUE_CODES, type IssueCode, type PathSegment } from "./issues.js";

export const LIMITS = {
  /** Replicas of one replicated container; more of the same run as another container. */
  replicasPerContainer: 10_000,
  /** Resources of every kind that one apply (one stack) declares. */
  resourcesPerApply: 50_000,
  /** Replicas of all replicated containers that one apply declares. */
  replicasPerApply: 100_000,
} as const;

export const REPLICAS_PER_CONTAINER_MESSAGE = `at most ${LIMITS.replicasPerContainer} replicas per container; declare more of the same as another container`;

/** Reports at a path of the resource keyed `kind.name`. */
export type LimitIssueAt = (
  key: string,
  path: readonly PathSegment[],
  code: IssueCode,
  message: string,
) => void;

/**
 * One issue per limit crossed, at the resource that crosses it: its declaration for the resource
 * count, its `replicas` for the replica count. `desired.sources` lists resources in declaration order.
 */
export function checkApplyLimits(desired: DesiredState, at: LimitIssueAt): void {
  const keys = Object.keys(desired.sources);
  const over = keys[LIMITS.resourcesPerApply];
  if (over !== undefined) {
    const dot = over.indexOf(".");
    at(
      over,
      [over.slice(0, dot), over.slice(dot + 1)],
      ISSUE_CODES.limitExceeded,
      `the manifests declare ${keys.length} resources; one apply takes at most ${LIMITS.resourcesPerApply}: split them into several stacks (\`stack = "…"\`) and apply each`,
    );
  }
  let replicas = 0;
  for (const container of Object.values(desired.containers)) {
    if (container.mode !== "replicated") continue;
    replicas += container.replicas;
    if (replicas <= LIMITS.replicasPerApply) continue;
    at(
      `containers.${container.name}`,
      ["containers", container.name, "replicas"],
      ISSUE_CODES.limitExceeded,
      `brings the replicas to ${replicas}; one apply takes at most ${LIMITS.replicasPerApply}: split the containers into several stacks (\`stack = "…"\`) and apply each`,
    );
    break;
  }
}
