// A node's record of what it applied: the generation and, per resource, the replicas it runs.
// Prune consults it so that only what TreeScale itself applied here is ever removed.
import { homedir } from "node:os";
import { join } from "node:path";
import { TreescaleError } from "../errors.js";
import { readFileIfExists, writeFileAtomic } from "./atomic-file.js";

export type LastApplied = {
  generation: number;
  appliedAt: string;
  inventory: Record<string, { replicas: number[] }>;
};

export class StateFileError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STATE_FILE", message, options);
  }
}

export function treescaleHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TREESCALE_HOME && env.TREESCALE_HOME.length > 0
    ? env.TREESCALE_HOME
    : join(homedir(), ".treescale");
}

export class LastAppliedStore {
  readonly path: string;

  constructor(home: string, node: string) {
    this.path = join(home, "nodes", node, "last-applied.json");
  }

  async read(): Promise<LastApplied> {
    const text = await readFileIfExists(this.path);
    if (text === undefined) return { generation: 0, appliedAt: "", inventory: {} };
    try {
      const parsed = JSON.parse(text) as LastApplied;
      if (typeof parsed.generation !== "number" || typeof parsed.inventory !== "object")
        throw new Error("bad shape");
      return parsed;
    } catch (error) {
      throw new StateFileError(
        `${this.path} is not a valid TreeScale state file; move it aside to start afresh (prune will then only warn about containers it no longer knows)`,
        { cause: error },
      );
    }
  }

  async write(state: LastApplied): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`);
  }
}
