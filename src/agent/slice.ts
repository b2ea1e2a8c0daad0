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
