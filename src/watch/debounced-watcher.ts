// Watches manifest paths and calls back once per burst of changes. Editors that save by writing
// a temp file and renaming it over the original (vim, JetBrains) produce an unlink+add pair;
// chokidar's `atomic` option folds that into one change, and the debounce folds the rest.

import { relative, sep } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import { TreescaleError } from "../errors.js";

/**
 * Hidden files and directories below a watched path (state dirs, editors' temp files) and
 * editors' swap/backup files are not manifests — the same rule the loader applies.
 */
export function isIgnored(roots: readonly string[], path: string): boolean {
  if (/~$|\.swp$|\.swx$|\.tmp$/.test(path)) return true;
  return roots.some((root) => {
    const below = relative(root, path);
    return (
      below !== "" && !below.startsWith("..") && below.split(sep).some((segment) => segment.startsWith("."))
    );
  });
}

export type DebouncedWatcher = { ready: Promise<void>; close(): Promise<void> };

export function watchDebounced(
  paths: string[],
  debounceMs: number,
  onChange: (changed: string[]) => void,
  onError: (error: Error) => void,
): DebouncedWatcher {
  const watcher: FSWatcher = watch(paths, {
    ignoreInitial: true,
    atomic: true,
    ignored: (path) => isIgnored(paths, path),
  });
  let timer: NodeJS.Timeout | undefined;
  const changed = new Set<string>();
  watcher.on("all", (_event, path) => {
    changed.add(path);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const batch = [...changed].sort();
      changed.clear();
      onChange(batch);
    }, debounceMs);
  });
  // Out of inotify watches (ENOSPC), a directory made unreadable (EACCES): report, keep running.
  watcher.on("error", (error) =>
    onError(error instanceof Error ? error : new TreescaleError("WATCH_FAILED", String(error))),
  );
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
