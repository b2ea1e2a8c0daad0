// Every verb of the CLI, one module each.
import type { Command } from "commander";
import { registerApply } from "./apply.js";
import { registerDiff } from "./diff.js";
import { registerEvents } from "./events.js";
import { registerGet } from "./get.js";
import { registerNode } from "./node.js";
import { registerPublish } from "./publish.js";
import { registerValidate } from "./validate.js";

export function registerCommands(program: Command): void {
  registerValidate(program);
  registerDiff(program);
  registerApply(program);
  registerGet(program);
  registerNode(program);
  registerEvents(program);
  registerPublish(program);
}
