// `treescale version`: this build's version and the Node.js it runs on, as kubectl version / docker version.
import type { Command } from "commander";
import { VERSION } from "../version.js";

export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("print this build's version and the Node.js it runs on")
    .option("-o, --output <format>", "text or json", "text")
    .action((options: { output: string }) => {
      const info = {
        treescale: VERSION,
        node: process.version,
        platform: `${process.platform}/${process.arch}`,
      };
      process.stdout.write(
        options.output === "json"
          ? `${JSON.stringify(info, null, 2)}\n`
          : `treescale ${info.treescale} (Node.js ${info.node}, ${info.platform})\n`,
      );
    });
}
