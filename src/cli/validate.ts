// `treescale validate -f …`: exit 0 when the manifests are valid, 2 with every error listed: what the
// loader finds, host ports that would collide on a node, and directories that hold no manifests.
import type { Command } from "commander";
import { ManifestIssuesError } from "../errors.js";
import { checkHostPorts, formatIssue, MANIFEST_PATTERNS } from "../manifest/index.js";
import { Registry } from "../reconcile/registry.js";
import type { Kinds } from "./kinds.js";
import { issueJson, loadOrExit } from "./load-manifests.js";
import { addFileOption, outputOption, requireFiles } from "./shared-options.js";

export function registerValidate(program: Command, kinds: Kinds): void {
  addFileOption(program.command("validate").description("check manifests without touching anything"))
    .addOption(outputOption(["text", "json"] as const, "text"))
    .action(async (options: { file: string[]; output: "text" | "json" }) => {
      const registry = new Registry(kinds());
      const loaded = await loadOrExit(requireFiles(options.file), registry.sections());
      const { desired, files } = loaded;
      const collisions = checkHostPorts(desired);
      const problems = [
        ...(loaded.emptyDirectories ?? []).map(
          (directory) => `no manifests in ${directory} (looked for ${MANIFEST_PATTERNS})`,
        ),
        ...collisions.map(formatIssue),
      ];
      if (problems.length > 0) {
        const count = `${problems.length} error${problems.length === 1 ? "" : "s"} in the manifests.`;
        const issues = [
          ...(loaded.emptyDirectories ?? []).map((directory) => ({
            code: "NO_MANIFESTS",
            message: `no manifests in ${directory} (looked for ${MANIFEST_PATTERNS})`,
            file: directory,
            line: 0,
            column: 0,
            field: "",
          })),
          ...collisions.map(issueJson),
        ];
        throw new ManifestIssuesError(`${problems.join("\n")}\n${count}`, issues);
      }
      const count = (noun: string, n: number) => `${n} ${noun}${n === 1 ? "" : "s"}`;
      const size = (record: object) => Object.keys(record).length;
      if (options.output === "json") {
        const counts = {
          files: files.length,
          containers: size(desired.containers),
          servers: size(desired.servers),
          balancers: size(desired.balancers),
        };
        process.stdout.write(`${JSON.stringify({ valid: true, ...counts }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${count("file", files.length)} valid: ${count("container", size(desired.containers))}, ` +
          `${count("server", size(desired.servers))}, ${count("balancer", size(desired.balancers))}.\n`,
      );
    });
}
