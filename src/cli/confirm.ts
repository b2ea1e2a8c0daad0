// terraform's question before a plan that removes or recreates: only `yes` goes ahead, anything
// else (Ctrl-C, Ctrl-D included) cancels. Asked only of a person at a terminal.

async function askOnTerminal(output: NodeJS.WritableStream): Promise<boolean> {
  const { createInterface } = await import("node:readline");
  const terminal = createInterface({ input: process.stdin, output });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      terminal.on("SIGINT", () => resolve(undefined));
      terminal.on("close", () => resolve(undefined));
      terminal.question("\nDo you want to perform these actions? Only 'yes' will be accepted: ", resolve);
    });
    if (answer === undefined) output.write("\n");
    return answer?.trim() === "yes";
  } finally {
    terminal.close();
  }
}

/** The confirmation a verb passes on: none with --yes, in a dry run, or when stdin is not a terminal. */
export function confirmation(flags: { yes: boolean; dryRun: boolean }): {
  confirm?: (output: NodeJS.WritableStream) => Promise<boolean>;
} {
  return flags.yes || flags.dryRun || !process.stdin.isTTY ? {} : { confirm: askOnTerminal };
}
