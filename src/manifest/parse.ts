// Reads TOML, JSON and YAML texts into plain data plus a locator from key paths to source positions.
// Each language's parser is imported when the first text in it is met, so a TOML-only run never
// loads the YAML or JSON packages (the module map keeps each one after its first import).
import { syntaxIssue } from "./issues.js";
import type { ParseResult, Parser } from "./source-document.js";

export type Language = "toml" | "json" | "yaml";

const PARSERS: Record<Language, () => Promise<Parser>> = {
  toml: async () => (await import("./languages/toml.js")).parseToml,
  json: async () => (await import("./languages/json.js")).parseJson,
  yaml: async () => (await import("./languages/yaml.js")).parseYaml,
};

const EXTENSIONS: Record<string, Language> = {
  ".toml": "toml",
  ".json": "json",
  ".yaml": "yaml",
  ".yml": "yaml",
};
export const KINDS = ["servers", "containers", "balancers"] as const;

/** The top-level key of a native document that names the stack its resources belong to. */
export const STACK_KEY = "stack";

/** Editors find the JSON Schema through this top-level key; the loader has no use for it. */
export const SCHEMA_KEY = "$schema";

/** Resource names; re-exported here so the seed reader can test keys without loading zod. */
export { RESOURCE_NAME_MAX, RESOURCE_NAME_PATTERN } from "../model/names.js";

export function languageOfFile(file: string): Language | undefined {
  const dot = file.lastIndexOf(".");
  return dot < 0 ? undefined : EXTENSIONS[file.slice(dot).toLowerCase()];
}

/**
 * stdin has no name: JSON if it opens like JSON, YAML if it reads as YAML naming a known kind (built in or
 * one of `extraKeys`, the caller's extension sections), else TOML.
 */
export async function sniffLanguage(text: string, extraKeys: readonly string[] = []): Promise<Language> {
  const start = text.trimStart();
  if (start.startsWith("{")) return "json";
  // "[" opens a JSON array or a TOML table header; TOML wins only when it parses and JSON does not.
  if (start.startsWith("[")) {
    const { isJsonText } = await import("./languages/json.js");
    if (isJsonText(text)) return "json";
    const parseToml = await PARSERS.toml();
    return parseToml(STDIN_PROBE, text).issues.length === 0 ? "toml" : "json";
  }
  const { someYamlDocument } = await import("./languages/yaml.js");
  const namesAKind = (data: unknown) =>
    isPlainObject(data) &&
    Object.keys(data).some((key) => TOP_LEVEL_KEYS.includes(key) || extraKeys.includes(key));
  return someYamlDocument(text, namesAKind) ? "yaml" : "toml";
}

const STDIN_PROBE = "<probe>";
/** Every top-level key either format gives a meaning to. */
export const TOP_LEVEL_KEYS: readonly string[] = [...KINDS, STACK_KEY, "current_node", "tree", "ssh"];

export async function parseSource(file: string, text: string, language: Language): Promise<ParseResult> {
  const parse = await PARSERS[language]();
  try {
    return parse(file, text);
  } catch (error) {
    // The parsers recurse, so deep nesting (100,000 "[" in a row) overflows the stack: an issue, not a crash.
    if (!(error instanceof RangeError)) throw error;
    const issue = syntaxIssue(file, 1, 1, "nested too deeply to read", language.toUpperCase());
    return { documents: [], issues: [issue] };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
