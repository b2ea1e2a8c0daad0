// What a node is asked to run, as it travels over the bus and rests on disk.
import { join } from "node:path";
import type { ContainerSpec } from "../model/resources.js";
import { hasNumberAndObject, JsonStateFile } from "../state/json-state-file.js";

export type SliceDocument = {
  generation: number;
  /** Remove owned containers of resources that left the slice (only those in the node's inventory). */
  prune: boolean;
  containers: Record<string, { spec: ContainerSpec; replicas: number[] }>;
};

export const EMPTY_SLICE: SliceDocument = { generation: 0, prune: false, containers: {} };

export class SliceStore extends JsonStateFile<SliceDocument> {
  constructor(home: string, node: string) {
    super(join(home, "nodes", node, "slice.json"), {
      fallback: EMPTY_SLICE,
      isValid: hasNumberAndObject("generation", "containers"),
      whatToDo: "move it aside and apply again",
    });
  }
}

/**
 * Checks a slice that arrived over the bus before the agent takes it; every problem is listed
 * with its path. Specs were validated by the sender's manifest loader: only what the agent relies
 * on to plan is checked here.
 */
export function parseSlice(value: unknown): { slice: SliceDocument; issues: [] } | { issues: string[] } {
  const issues: string[] = [];
  if (!isRecord(value)) return { issues: ["the slice is not an object"] };
  const { generation, prune, containers } = value;
  if (typeof generation !== "number" || !Number.isSafeInteger(generation) || generation < 0)
    issues.push("generation: must be a whole number ≥ 0");
  if (typeof prune !== "boolean") issues.push("prune: must be true or false");
  if (!isRecord(containers)) issues.push("containers: must be an object of resource → { spec, replicas }");
  else
    for (const [name, entry] of Object.entries(containers)) {
      const at = `containers.${name}`;
      if (!isRecord(entry)) {
        issues.push(`${at}: must be an object with spec and replicas`);
        continue;
      }
      const { spec, replicas } = entry;
      if (!isRecord(spec)) issues.push(`${at}.spec: must be an object`);
      else {
        if (spec.name !== name) issues.push(`${at}.spec.name: must be "${name}"`);
        if (typeof spec.image !== "string" || spec.image === "")
          issues.push(`${at}.spec.image: must be a non-empty string`);
      }
      if (
        !Array.isArray(replicas) ||
        !replicas.every((r) => typeof r === "number" && Number.isSafeInteger(r) && r >= 1)
      )
        issues.push(`${at}.replicas: must be a list of replica numbers ≥ 1`);
    }
  return issues.length > 0 ? { issues } : { slice: value as SliceDocument, issues: [] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
