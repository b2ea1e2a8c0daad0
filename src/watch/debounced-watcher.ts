// Watches manifest paths and calls back once per burst of changes. Editors that save by writing
// a temp file and renaming it over the original (vim, JetBrains) produce an unlink+add pair;
// chokidar's `atomic` option folds that into one change, and the debounce folds the rest.
import { type FSWatcher, watch } from "chokidar";

export type DebouncedWatcher = { ready: Promise<void>; close(): Promise<void> };

export function watchDebounced(paths: string[], debounceMs: number, onChange: (changed: string[]) => void): DebouncedWatcher {
  const watcher: FSWatcher = watch(paths, {
    ignoreInitial: true,
    atomic: true,
    // Hidden files and editors' swap/backup files are not manifests.
    ignored: (path) => /(^|\/)\.[^/]+$|~$|\.swp$|\.swx$|\.tmp$/.test(path),
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
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
