#!/usr/bin/env node
// The CLI's composition point and its one error boundary: the verb being run registers itself,
// every expected failure arrives here as a typed error and leaves as an exit code.
import { Command, CommanderError } from "commander";
import { ExitError, TreescaleError, UsageError } from "../errors.js";
import { registerCommands } from "./commands.js";

async function main(argv: string[]): Promise<number> {
  const program = new Command("treescale")
    .description("Declarative fleet manager over an always-connected tree of servers")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)");
  try {
    await registerCommands(program, argv.slice(2));
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    return exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are successful exits; everything else commander reports is a usage error.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ExitError) {
    if (error.message) process.stderr.write(`${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof TreescaleError) {
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(
    `internal error (a bug in TreeScale, please report it): ${
      error instanceof Error ? (error.stack ?? error.message) : String(error)
    }\n`,
  );
  return 70;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`internal error: ${String(error)}\n`);
    process.exitCode = 70;
  },
);
