// What a node is asked to run, as it travels over the bus and rests on disk.
import { join } from "node:path";
import { TreescaleError } from "../errors.js";
import type { ContainerSpec } from "../model/resources.js";
import type { NodeSlice } from "../plan/container-plan.js";
import { readFileIfExists, writeFileAtomic } from "../state/atomic-file.js";

export type SliceDocument = {
  generation: number;
  /** Remove owned containers of resources that left the slice (only those in the node's inventory). */
  prune: boolean;
  containers: Record<string, { spec: ContainerSpec; replicas: number[] }>;
};

export const EMPTY_SLICE: SliceDocument = { generation: 0, prune: false, containers: {} };

export function asNodeSlice(document: SliceDocument): NodeSlice {
  return document.containers;
}

export class SliceStore {
  readonly path: string;
  constructor(home: string, node: string) {
    this.path = join(home, "nodes", node, "slice.json");
  }

  async read(): Promise<SliceDocument> {
    const text = await readFileIfExists(this.path);
    if (text === undefined) return EMPTY_SLICE;
    try {
      const parsed = JSON.parse(text) as SliceDocument;
      if (typeof parsed.generation !== "number" || typeof parsed.containers !== "object")
        throw new Error("bad shape");
      return parsed;
    } catch (error) {
      throw new TreescaleError(
        "STATE_FILE",
        `${this.path} is not a valid slice file; move it aside and re-apply`,
        {
          cause: error,
        },
      );
    }
  }

  write(document: SliceDocument): Promise<void> {
    return writeFileAtomic(this.path, `${JSON.stringify(document)}\n`);
  }
}
