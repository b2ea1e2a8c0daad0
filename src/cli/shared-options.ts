// Flags several verbs share, parsed and checked in one place.
import { type Command, Option } from "commander";
import { LocalNode } from "../apply/local-node.js";
import { DockerEngine } from "../drivers/docker.js";
import { UsageError } from "../errors.js";
import { treescaleHome } from "../state/last-applied.js";
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

const NODE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function openLocalNode(name: string): LocalNode {
  if (!NODE_NAME.test(name)) {
    throw new UsageError(`--name must be lowercase letters, digits and dashes, got "${name}"`);
  }
  return new LocalNode({ name, home: treescaleHome(), engine: new DockerEngine() });
}
