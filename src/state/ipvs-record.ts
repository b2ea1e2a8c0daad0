// A node's record of the IPVS services TreeScale made (IPVS holds no labels): without it, no IPVS
// service is ever treated as TreeScale's.
import { join } from "node:path";
import type { IpvsRecord } from "../drivers/ipvs.js";
import { JsonStateFile } from "./json-state-file.js";

export function ipvsRecordStore(
  home: string,
  node: string,
): { read(): Promise<IpvsRecord>; write(record: IpvsRecord): Promise<void> } {
  const file = new JsonStateFile<IpvsRecord>(join(home, "nodes", node, "ipvs-services.json"), {
    fallback: {},
    isValid: (value) => typeof value === "object" && value !== null && !Array.isArray(value),
    whatToDo: "move it aside: TreeScale then leaves the IPVS services it no longer knows alone",
  });
  return { read: () => file.read(), write: (record) => file.write(record) };
}
