// `treescale context list|use NAME`: the trees `treescale build` recorded, and which one verbs
// without --node talk to (as kubectl config get-contexts / use-context).
import type { Command } from "commander";
import { currentContextName, listContexts, useContext } from "../state/contexts.js";
import { treescaleHome } from "../state/stack-files.js";
import { table } from "./row-output.js";

export function registerContext(program: Command): void {
  const context = program
    .command("context")
    .description(
      "the trees treescale build recorded: list them, or choose the one verbs talk to without --node",
    );
  context
    .command("list")
    .description("every recorded tree; * marks the current one")
    .action(async () => {
      const home = treescaleHome();
      const [contexts, current] = await Promise.all([listContexts(home), currentContextName(home)]);
      if (contexts.length === 0) {
        process.stdout.write(
          "No contexts: treescale build records one. Without one, verbs use the embedded node.\n",
        );
        return;
      }
      process.stdout.write(
        table(
          ["CURRENT", "NAME", "NODE", "SERVERS", "BUILT"],
          contexts.map((c) => [
            c.name === current ? "*" : "",
            c.name,
            c.node,
            String(c.servers.length),
            c.builtAt,
          ]),
        ),
      );
    });
  context
    .command("use <name>")
    .description("make NAME the tree that verbs without --node talk to")
    .action(async (name: string) => {
      await useContext(treescaleHome(), name);
      process.stdout.write(`Now using context ${name}.\n`);
    });
}
