// One JSON text per value, whatever order its keys were written in: what hashes and equality of specs rely on.
/** JSON with object keys sorted, so equal specs hash equally whatever order the manifest used. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}
