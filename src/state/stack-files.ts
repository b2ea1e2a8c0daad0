// What a node keeps on disk per stack: the slice it was last given and its record of what it
// applied (prune consults the record, so only what TreeScale itself applied is ever removed).
import { readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { emptySlice, type SliceDocument } from "../model/wire.js";
import { hasNumberAndObject, JsonStateFile } from "./json-state-file.js";

export type LastApplied = {
  generation: number;
  appliedAt: string;
  /** `kind/name` → the replicas this node runs. */
  inventory: Record<string, { replicas: number[] }>;
};

export function treescaleHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.TREESCALE_HOME && env.TREESCALE_HOME.length > 0
    ? env.TREESCALE_HOME
    : join(homedir(), ".treescale");
}

function stacksDir(home: string, node: string): string {
  return join(home, "nodes", node, "stacks");
}

/** The stacks a node has files for. */
export async function storedStacks(home: string, node: string): Promise<string[]> {
  try {
    return (await readdir(stacksDir(home, node), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

export class InventoryStore extends JsonStateFile<LastApplied> {
  constructor(home: string, node: string, stack: string) {
    super(join(stacksDir(home, node), stack, "inventory.json"), {
      fallback: { generation: 0, appliedAt: "", inventory: {} },
      isValid: hasNumberAndObject("generation", "inventory"),
      whatToDo: "move it aside to start afresh (prune then only reports objects it no longer knows)",
    });
  }
}

export class SliceStore extends JsonStateFile<SliceDocument> {
  constructor(home: string, node: string, stack: string) {
    super(join(stacksDir(home, node), stack, "slice.json"), {
      fallback: emptySlice(stack),
      isValid: hasNumberAndObject("generation", "resources"),
      whatToDo: "move it aside and apply again",
    });
  }
}

export type SetAsideFile = { path: string; movedTo: string; reason: string };

/**
 * Sets aside every slice and inventory of the node's stacks that cannot be read (cut short, edited
 * by hand): the agent then starts from what the engine's labels show and a re-apply gives it the
 * slice again, where one bad file would otherwise keep the whole node from starting.
 */
export async function setAsideUnreadableStackFiles(
  home: string,
  node: string,
  now = new Date(),
): Promise<SetAsideFile[]> {
  const moved: SetAsideFile[] = [];
  for (const stack of await storedStacks(home, node)) {
    for (const file of [new SliceStore(home, node, stack), new InventoryStore(home, node, stack)]) {
      const setAside = await file.setAsideIfUnreadable(now);
      if (setAside) moved.push({ path: file.path, ...setAside });
    }
  }
  return moved;
}
