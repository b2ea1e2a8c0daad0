// `npm run schema`: writes the published JSON Schema next to the manifests.
import { writeFile } from "node:fs/promises";
import { manifestJsonSchema } from "./json-schema.js";

export const SCHEMA_FILE = "manifests/treescale.schema.json";

/** The schema file's exact text, so the staleness test compares bytes. */
export function schemaFileText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

if (process.argv[1]?.endsWith("write-schema.js")) {
  await writeFile(SCHEMA_FILE, schemaFileText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
