// Git-ops: re-apply whenever the manifests change. One apply at a time; changes that arrive
// during an apply cause exactly one more. A directory that fails to load applies nothing and
// keeps the last good state running.
import { formatIssue, type LoadResult } from "../manifest/index.js";

export type ApplyLoopOptions = {
  load(): Promise<LoadResult>;
  apply(loaded: LoadResult): Promise<number>;
  log(line: string): void;
};

export class ApplyLoop {
  readonly #options: ApplyLoopOptions;
  #running: Promise<void> | undefined;
  #again: string | undefined;
  #lastGood: LoadResult | undefined;
  #stopped = false;

  constructor(options: ApplyLoopOptions) {
    this.#options = options;
  }

  /** No further applies start; the outcome of one in flight is no longer reported. */
  stop(): void {
    this.#stopped = true;
  }

  trigger(reason: string): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = reason;
      return this.#running;
    }
    this.#running = this.#loop(reason).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #loop(first: string): Promise<void> {
    let reason: string | undefined = first;
    while (reason !== undefined && !this.#stopped) {
      this.#again = undefined;
      await this.#once(reason);
      reason = this.#again;
    }
  }

  async #once(reason: string): Promise<void> {
    const { log } = this.#options;
    log(`${reason}: loading manifests`);
    const loaded = await this.#options.load();
    if (loaded.issues.length > 0) {
      for (const issue of loaded.issues) log(`  ${formatIssue(issue)}`);
      log(
        `manifests invalid (${loaded.issues.length} error${loaded.issues.length === 1 ? "" : "s"}): nothing applied; ` +
          (this.#lastGood ? "the last good state stays in force" : "no good state applied yet"),
      );
      return;
    }
    this.#lastGood = loaded;
    try {
      const code = await this.#options.apply(loaded);
      if (this.#stopped) return;
      log(code === 0 ? "applied: converged" : `applied: NOT converged (exit code ${code})`);
    } catch (error) {
      if (this.#stopped) return;
      log(`apply failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
