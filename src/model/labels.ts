// The labels that mark what TreeScale owns. Anything without MANAGED=true is never touched.

export const LABELS = {
  managed: "treescale.managed",
  resource: "treescale.resource",
  node: "treescale.node",
  replica: "treescale.replica",
  hash: "treescale.hash",
  fieldHashes: "treescale.fields",
  generation: "treescale.generation",
} as const;

export function containerName(node: string, resource: string, replica: number): string {
  return `${node}-${resource}-${replica}`;
}
