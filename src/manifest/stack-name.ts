// The stack a run belongs to when no manifest names one, derived from the first -f input the way
// docker compose derives a project name from where its files are, so the same folder keeps its stack.
import { basename, resolve } from "node:path";
import { RESOURCE_NAME_MAX } from "./parse.js";

const MANIFEST_EXTENSION = /\.(toml|json|ya?ml)$/i;

/**
 * `app/` → "app", `app/Web Shop.toml` → "web-shop", `-` → "stdin"; "default" when no letter or digit is left.
 * Decided from the text alone: a name with a manifest extension is a file, any other name a directory.
 */
export function defaultStackName(firstInput: string): string {
  if (firstInput === "-") return "stdin";
  // "." and ".." name the folder they stand for; resolving keeps every other base name as written.
  const base = basename(resolve(firstInput)).replace(MANIFEST_EXTENSION, "");
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, RESOURCE_NAME_MAX)
    // Cutting may leave a '-' at the end, which a name may not have.
    .replace(/-+$/, "");
  return name === "" ? "default" : name;
}
