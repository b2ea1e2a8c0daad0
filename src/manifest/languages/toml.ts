// TOML texts: smol-toml reads the data, the scanner in toml-locator.ts finds where each path is written.
import { parse, TomlError } from "smol-toml";
import { firstLine, syntaxIssue } from "../issues.js";
import type { ParseResult } from "../source-document.js";
import { createTomlLocator } from "./toml-locator.js";

export function parseToml(file: string, text: string): ParseResult {
  try {
    const data = parse(text);
    return { documents: [{ file, data, locate: createTomlLocator(text) }], issues: [] };
  } catch (error) {
    if (error instanceof TomlError) {
      const message = firstLine(error.message).replace(/^Invalid TOML document:\s*/, "");
      return { documents: [], issues: [syntaxIssue(file, error.line, error.column, message, "TOML")] };
    }
    return { documents: [], issues: [syntaxIssue(file, 1, 1, String(error), "TOML")] };
  }
}
