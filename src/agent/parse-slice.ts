// Checks a slice that arrived over the bus before the agent takes it; every problem is listed with
// its path. Specs were validated by the sender's manifest loader: each kind checks only what its
// planning relies on.
import { RESOURCE_NAME_PATTERN } from "../model/names.js";
import type { SliceDocument } from "../model/wire.js";
import { splitResourceKey } from "../reconcile/keys.js";

export type SpecCheck = (kind: string, name: string, spec: unknown) => string[];

export function parseSlice(
  value: unknown,
  checkSpec: SpecCheck,
): { slice: SliceDocument } | { issues: string[] } {
  const issues: string[] = [];
  if (!isRecord(value)) return { issues: ["the slice is not an object"] };
  const { stack, generation, prune, resources } = value;
  if (typeof stack !== "string" || !RESOURCE_NAME_PATTERN.test(stack))
    issues.push("stack: must be a lowercase name of letters, digits and '-'");
  if (typeof generation !== "number" || !Number.isSafeInteger(generation) || generation < 0)
    issues.push("generation: must be a whole number ≥ 0");
  if (typeof prune !== "boolean") issues.push("prune: must be true or false");
  if (!isRecord(resources)) issues.push("resources: must be an object of kind/name → { spec, replicas }");
  else
    for (const [key, entry] of Object.entries(resources)) {
      const at = `resources.${key}`;
      const { kind, name } = splitResourceKey(key);
      if (kind === "" || !RESOURCE_NAME_PATTERN.test(name)) {
        issues.push(`${at}: keys are kind/name, such as container/web`);
        continue;
      }
      if (!isRecord(entry)) {
        issues.push(`${at}: must be an object with spec and replicas`);
        continue;
      }
      for (const issue of checkSpec(kind, name, entry.spec)) issues.push(`${at}.${issue}`);
      const { replicas } = entry;
      if (
        !Array.isArray(replicas) ||
        !replicas.every((r) => typeof r === "number" && Number.isSafeInteger(r) && r >= 1)
      )
        issues.push(`${at}.replicas: must be a list of replica numbers ≥ 1`);
    }
  return issues.length > 0 ? { issues } : { slice: value as SliceDocument };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
