// `treescale validate -f …`: exit 0 when the manifests are valid, 2 with every error listed: what the
// loader finds, host ports that would collide on a node, and directories that hold no manifests.
import type { Command } from "commander";
import { ExitError } from "../errors.js";
import { checkHostPorts, formatIssue, MANIFEST_PATTERNS } from "../manifest/index.js";
import { Registry } from "../reconcile/registry.js";
import type { Kinds } from "./kinds.js";
import { loadOrExit } from "./load-manifests.js";
import { addFileOption, requireFiles } from "./shared-options.js";

export function registerValidate(program: Command, kinds: Kinds): void {
  addFileOption(program.command("validate").description("check manifests without touching anything")).action(
    async (options: { file: string[] }) => {
      const registry = new Registry(kinds());
      const loaded = await loadOrExit(requireFiles(options.file), registry.sections());
      const { desired, files } = loaded;
      const problems = [
        ...(loaded.emptyDirectories ?? []).map(
          (directory) => `no manifests in ${directory} (looked for ${MANIFEST_PATTERNS})`,
        ),
        ...checkHostPorts(desired).map(formatIssue),
      ];
      if (problems.length > 0) {
        const count = `${problems.length} error${problems.length === 1 ? "" : "s"} in the manifests.`;
        throw new ExitError(2, `${problems.join("\n")}\n${count}`);
      }
      const count = (noun: string, n: number) => `${n} ${noun}${n === 1 ? "" : "s"}`;
      const size = (record: object) => Object.keys(record).length;
      process.stdout.write(
        `${count("file", files.length)} valid: ${count("container", size(desired.containers))}, ` +
          `${count("server", size(desired.servers))}, ${count("balancer", size(desired.balancers))}.\n`,
      );
    },
  );
}
