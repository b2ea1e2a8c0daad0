// The published JSON Schema of the native format (TOML, JSON and YAML share it), generated from
// the zod schemas. Only `npm run schema` and its staleness test need it; the CLI never loads it.
import * as z from "zod/mini";
import { balancerSchema, containerSchema, resourceNameSchema, serverSchema } from "./schema.js";

export const SCHEMA_ID = "https://treescale.dev/schemas/treescale.schema.json";

/** A whole manifest document. Loading validates kind by kind (to keep going past bad resources). */
const documentSchema = z
  .strictObject({
    $schema: z.optional(
      z.string().register(z.globalRegistry, {
        description: "The JSON Schema this document follows; ignored by the loader.",
      }),
    ),
    // A copy: a description registered on resourceNameSchema itself would show on every name.
    stack: z.optional(
      resourceNameSchema.clone().register(z.globalRegistry, {
        description:
          "The stack these resources belong to: the unit of apply, prune and delete. Documents that name one must name the same; with none, the stack is named after the first -f input.",
      }),
    ),
    servers: z.optional(z.record(resourceNameSchema, serverSchema)),
    containers: z.optional(z.record(resourceNameSchema, containerSchema)),
    balancers: z.optional(z.record(resourceNameSchema, balancerSchema)),
  })
  .register(z.globalRegistry, {
    title: "TreeScale manifest",
    description:
      "Servers, containers and balancers keyed by kind, then by name, and the stack they belong to.",
  });

export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(documentSchema, { io: "input", target: "draft-2020-12" });
  return { ...schema, $id: SCHEMA_ID };
}
