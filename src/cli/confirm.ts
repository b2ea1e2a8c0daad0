// terraform's question before a plan that removes or recreates: only `yes` goes ahead, anything
// else (Ctrl-D included) cancels; Ctrl-C interrupts. Asked only of a person at a terminal.

/** The answer: go ahead, do not, or Ctrl-C (which the terminal hands to the prompt, not as a signal). */
export type Confirmation = "yes" | "no" | "interrupted";

async function askOnTerminal(output: NodeJS.WritableStream): Promise<Confirmation> {
  const { createInterface } = await import("node:readline");
  const terminal = createInterface({ input: process.stdin, output });
  try {
    const answer = await new Promise<string | undefined | null>((resolve) => {
      terminal.on("SIGINT", () => resolve(null));
      terminal.on("close", () => resolve(undefined));
      terminal.question("\nDo you want to perform these actions? Only 'yes' will be accepted: ", resolve);
    });
    if (answer === undefined || answer === null) output.write("\n");
    if (answer === null) return "interrupted";
    return answer?.trim() === "yes" ? "yes" : "no";
  } finally {
    terminal.close();
  }
}

/** The confirmation a verb passes on: none with --yes, in a dry run, or when stdin is not a terminal. */
export function confirmation(flags: { yes: boolean; dryRun: boolean }): {
  confirm?: (output: NodeJS.WritableStream) => Promise<Confirmation>;
} {
  return flags.yes || flags.dryRun || !process.stdin.isTTY ? {} : { confirm: askOnTerminal };
}
