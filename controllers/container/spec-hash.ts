// A container's identity for "recreate or keep": a hash of the fields that shape the
// container itself. Replicas, placement, heal and update policy change how many and
// where, never what, so they stay out of it (as compose's config hash does).
import { createHash } from "node:crypto";
import type { ContainerSpec } from "../../src/model/resources.js";
import { canonicalJson } from "../../src/util/canonical-json.js";

export const HASHED_FIELDS = [
  "image",
  "command",
  "entrypoint",
  "env",
  "ports",
  "volumes",
  "labels",
  "restart",
  "memoryBytes",
  "cpus",
  "healthcheck",
] as const satisfies readonly (keyof ContainerSpec)[];

export type HashedField = (typeof HASHED_FIELDS)[number];

function digest(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

export function fieldHashes(spec: ContainerSpec): Record<HashedField, string> {
  const out = {} as Record<HashedField, string>;
  for (const field of HASHED_FIELDS) out[field] = digest(canonicalJson(spec[field] ?? null), 8);
  return out;
}

export function specHash(spec: ContainerSpec): string {
  return digest(canonicalJson(fieldHashes(spec)), 16);
}

/** Fields whose hash differs; unknown when the container predates per-field hashes. */
export function changedFields(spec: ContainerSpec, observed: Record<string, string>): HashedField[] {
  const wanted = fieldHashes(spec);
  return HASHED_FIELDS.filter((field) => observed[field] !== wanted[field]);
}
