import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { manifestJsonSchema } from "../../../src/manifest/json-schema.js";
import { SCHEMA_FILE } from "../../../src/manifest/write-schema.js";

describe("published JSON Schema", () => {
  it("is up to date with the zod definitions (run `npm run schema` when this fails)", async () => {
    const committed: unknown = JSON.parse(await readFile(SCHEMA_FILE, "utf8"));
    expect(committed).toEqual(manifestJsonSchema());
  });

  it("describes the input format: kinds keyed by name, unknown fields refused, defaults shown", () => {
    const schema = manifestJsonSchema() as {
      $id: string;
      additionalProperties: boolean;
      properties: Record<
        string,
        { propertyNames: { pattern: string }; additionalProperties: Record<string, unknown> }
      >;
    };
    expect(schema.$id).toMatch(/treescale\.schema\.json$/);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual([
      "$schema",
      "stack",
      "servers",
      "containers",
      "balancers",
    ]);
    const container = schema.properties.containers!.additionalProperties as {
      properties: Record<string, { default?: unknown }>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(schema.properties.containers!.propertyNames.pattern).toBe("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$");
    expect(container.required).toEqual(["image"]);
    expect(container.additionalProperties).toBe(false);
    expect(container.properties.replicas?.default).toBe(1);
    expect(container.properties.restart?.default).toBe("no");
  });

  it("describes stack with the resource name rule, and only there", () => {
    const schema = manifestJsonSchema() as {
      properties: { stack: { pattern: string; maxLength: number; description: string } };
    };
    expect(schema.properties.stack).toMatchObject({
      type: "string",
      pattern: "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
      maxLength: 40,
    });
    expect(schema.properties.stack.description).toMatch(/unit of apply, prune and delete/);
    expect(JSON.stringify(manifestJsonSchema()).match(/unit of apply/g)).toHaveLength(1);
  });
});
