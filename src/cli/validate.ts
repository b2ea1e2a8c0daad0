// `treescale validate -f …`: exit 0 when the manifests are valid, 2 with every error listed.
import type { Command } from "commander";
import { Registry } from "../reconcile/registry.js";
import type { Kinds } from "./kinds.js";
import { loadOrExit } from "./load-manifests.js";
import { addFileOption, requireFiles } from "./shared-options.js";

export function registerValidate(program: Command, kinds: Kinds): void {
  addFileOption(program.command("validate").description("check manifests without touching anything")).action(
    async (options: { file: string[] }) => {
      const registry = new Registry(kinds());
      const { desired, files } = await loadOrExit(requireFiles(options.file), registry.sections());
      const count = (noun: string, n: number) => `${n} ${noun}${n === 1 ? "" : "s"}`;
      const size = (record: object) => Object.keys(record).length;
      process.stdout.write(
        `${count("file", files.length)} valid: ${count("container", size(desired.containers))}, ` +
          `${count("server", size(desired.servers))}, ${count("balancer", size(desired.balancers))}.\n`,
      );
    },
  );
}
