// Every verb of the CLI, one module each.
import type { Command } from "commander";

export function registerCommands(program: Command): void {
  void program;
}
