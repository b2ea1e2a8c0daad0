// Flags several verbs share, parsed and checked in one place.
import { type Command, Option } from "commander";
import { UsageError } from "../errors.js";
import type { LoadResult } from "../manifest/index.js";
import { defaultStackName } from "../manifest/stack-name.js";
import { RESOURCE_NAME_PATTERN } from "../model/names.js";
import { collect } from "./flag-values.js";

export function addFileOption(command: Command): Command {
  return command.option(
    "-f, --file <path>",
    "manifest file or directory (repeatable; - for stdin)",
    collect,
    [],
  );
}

export function outputOption<T extends string>(choices: readonly T[], fallback: T): Option {
  return new Option("-o, --output <format>", "output format").choices(choices).default(fallback);
}

export function requireFiles(files: string[]): string[] {
  if (files.length === 0)
    throw new UsageError("no manifests given: pass -f FILE|DIR (repeatable, - for stdin)");
  return files;
}

export function addNodeNameOption(command: Command): Command {
  return command.option("--name <node>", "name of the embedded node", "local");
}

export function addStackOption(command: Command): Command {
  return command.option(
    "--stack <name>",
    "the stack these manifests make up (default: the manifests' `stack`, else the first -f's name)",
  );
}

/** The stack of an apply: --stack, else the manifests' own `stack`, else named after the first -f. */
export function stackOf(
  flag: string | undefined,
  loaded: Pick<LoadResult, "stack">,
  files: readonly string[],
): string {
  if (flag !== undefined) {
    if (!RESOURCE_NAME_PATTERN.test(flag))
      throw new UsageError(`--stack must be lowercase letters, digits and dashes, got "${flag}"`);
    return flag;
  }
  return loaded.stack ?? defaultStackName(files[0] ?? "-");
}

const NODE_NAME = RESOURCE_NAME_PATTERN;

export function checkNodeName(name: string): string {
  if (!NODE_NAME.test(name)) {
    throw new UsageError(`--name must be lowercase letters, digits and dashes, got "${name}"`);
  }
  return name;
}
