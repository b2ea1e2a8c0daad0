// Ctrl-C before an apply or delete has sent anything to a node (while it loads the manifests, connects,
// gathers the nodes' state, plans or asks for confirmation) ends it at once with 130 and a line saying
// nothing was applied. From the apply phase on, the verb's own handling says what was done and what not.
import { EXIT } from "../errors.js";

export type Phase = "loading the manifests" | "connecting" | "planning" | "asking for confirmation";

/** How long closing what was opened (the connection, an embedded node run here) may hold the exit. */
const CLOSE_BOUND_MS = 2000;

export class BeforeApplying {
  phase: Phase = "loading the manifests";
  private close: (() => Promise<void>) | undefined;
  private readonly onSignal = () => void this.interrupted();

  constructor(
    private readonly verb: "apply" | "delete",
    private readonly output: "text" | "json",
  ) {
    process.once("SIGINT", this.onSignal);
  }

  /** What to close before exiting once connected. */
  closing(close: () => Promise<void>): void {
    this.close = close;
  }

  /** The apply phase begins: Ctrl-C is the verb's to report from now on. */
  handOver(): void {
    process.off("SIGINT", this.onSignal);
  }

  /** Says that nothing was applied, in the verb's output format; returns the exit code. */
  report(): number {
    const done = this.verb === "apply" ? "applied" : "deleted";
    process.stderr.write(
      `Interrupted while ${this.phase}: nothing was ${done} (no node was sent anything).\n`,
    );
    if (this.output === "json") {
      process.stdout.write(
        `${JSON.stringify({ interrupted: true, phase: this.phase, [done]: false }, null, 2)}\n`,
      );
    }
    return EXIT.interrupted;
  }

  private async interrupted(): Promise<void> {
    // A second Ctrl-C does not wait for the closing either.
    process.once("SIGINT", () => process.exit(EXIT.interrupted));
    const code = this.report();
    if (this.close) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.close().catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_BOUND_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    process.exit(code);
  }
}
