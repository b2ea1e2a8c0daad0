// What a recreate changes, field by field with old and new values, as `kubectl diff` shows it:
// tables (env, labels, healthcheck) key by key, everything else whole. Secret-looking env values
// are masked here, where the plan is made, so no renderer or JSON output ever holds them.
import type { ContainerSpec } from "../../src/model/resources.js";
import type { FieldChange } from "../../src/reconcile/controller.js";
import { canonicalJson } from "../../src/util/canonical-json.js";
import type { HashedField } from "./spec-hash.js";

export const SENSITIVE = "(sensitive)";

/** Word parts that mark an env name as a secret: `DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`. */
const SECRET_WORDS = new Set([
  "password",
  "passwd",
  "passphrase",
  "pass",
  "secret",
  "secrets",
  "token",
  "tokens",
  "key",
  "keys",
  "apikey",
  "credential",
  "credentials",
  "private",
]);

/** Whether an env name has a secret's word among its parts (split at `_`, `-`, `.` and camelCase), any case. */
export function looksSecret(name: string): boolean {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .some((part) => SECRET_WORDS.has(part.toLowerCase()));
}

/** The changes from `before` to `after` in `fields`, in their order, tables key by key in sorted order. */
export function fieldChanges(
  before: ContainerSpec,
  after: ContainerSpec,
  fields: readonly HashedField[],
): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of fields) collect(field, before[field], after[field], changes);
  return changes.map((change) => (isSensitive(change.field) ? mask(change) : change));
}

function collect(path: string, from: unknown, to: unknown, out: FieldChange[]): void {
  if (canonicalJson(from ?? null) === canonicalJson(to ?? null)) return;
  if (isTable(from) && isTable(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    for (const key of keys) collect(`${path}.${key}`, from[key], to[key], out);
    return;
  }
  out.push({ field: path, from, to });
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSensitive(field: string): boolean {
  return field.startsWith("env.") && looksSecret(field.slice("env.".length));
}

/** An absent side stays absent: that a secret was added or removed is no secret. */
function mask(change: FieldChange): FieldChange {
  return {
    field: change.field,
    from: change.from === undefined ? undefined : SENSITIVE,
    to: change.to === undefined ? undefined : SENSITIVE,
    sensitive: true,
  };
}
