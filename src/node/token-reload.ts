// Keeps a running node's token file current: re-read on SIGHUP and when the file changes (debounced, so
// that an editor's save is one reload). A file that fails to load keeps the tokens in force, with the
// located error logged: a typo must not lock everyone out, nor let anyone in.
import { resolve } from "node:path";
import { type Logger, loadTokenFile, type TokenTable } from "../bus/server/index.js";
import { errorMessage } from "../errors.js";
import { watchDebounced } from "../watch/debounced-watcher.js";

const DEBOUNCE_MS = 200;

export interface TokenReloadOptions {
  path: string;
  /** Applies a table that loaded; returns how many connections it closed. */
  apply(tokens: TokenTable): number;
  log: Logger;
}

/** Starts watching; the returned function stops it. */
export async function reloadTokensOnChange(options: TokenReloadOptions): Promise<() => Promise<void>> {
  const path = resolve(options.path);
  let running: Promise<void> = Promise.resolve();
  // Reloads run one at a time, in order: the last one reads the file as it is now.
  const reload = (why: string) => {
    running = running.then(() => reloadOnce(options, path, why));
  };
  const onHangup = () => reload("SIGHUP");
  process.on("SIGHUP", onHangup);
  const watcher = watchDebounced(
    [path],
    DEBOUNCE_MS,
    () => reload("file changed"),
    (error) =>
      options.log("warn", "cannot watch the token file; reload it with SIGHUP", {
        file: path,
        error: error.message,
      }),
  );
  await watcher.ready;
  return async () => {
    process.off("SIGHUP", onHangup);
    await watcher.close();
    await running;
  };
}

async function reloadOnce(options: TokenReloadOptions, path: string, why: string): Promise<void> {
  let tokens: TokenTable;
  try {
    tokens = (await loadTokenFile(path)).tokens;
  } catch (error) {
    options.log("error", "token file not reloaded; the previous tokens stay in force", {
      why,
      error: errorMessage(error),
    });
    return;
  }
  const closed = options.apply(tokens);
  options.log("info", "token file reloaded", { file: path, why, tokens: tokens.size, closed });
}
