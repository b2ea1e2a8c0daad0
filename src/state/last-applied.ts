// A node's record of what it applied: the generation and, per resource, the replicas it runs.
// Prune consults it so that only what TreeScale itself applied here is ever removed.
import { homedir } from "node:os";
import { join } from "node:path";
import { hasNumberAndObject, JsonStateFile } from "./json-state-file.js";

export type LastApplied = {
  generation: number;
  appliedAt: string;
  inventory: Record<string, { replicas: number[] }>;
};

export function treescaleHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TREESCALE_HOME && env.TREESCALE_HOME.length > 0
    ? env.TREESCALE_HOME
    : join(homedir(), ".treescale");
}

/** A node's record of what it applied. */
export class LastAppliedStore extends JsonStateFile<LastApplied> {
  constructor(home: string, node: string) {
    super(join(home, "nodes", node, "last-applied.json"), {
      fallback: { generation: 0, appliedAt: "", inventory: {} },
      isValid: hasNumberAndObject("generation", "inventory"),
      whatToDo: "move it aside to start afresh (prune then only reports containers it no longer knows)",
    });
  }
}
