// The contract for manifest sections of kinds the loader does not know. Its own module so the loader's
// entry point (index.ts, which re-exports it) and assemble.ts both use it without importing each other.

/**
 * A top-level section for a resource kind a controller adds (`[toys.rex]`), so manifests can declare it
 * without the loader knowing the kind. Resources are keyed by name like containers; `parse` checks one
 * body and gives the value kept in `DesiredState.extensions[section][name]`, or issues at paths inside it.
 */
export type ExtensionSection = {
  section: string;
  parse(
    body: unknown,
  ): { ok: true; value: unknown } | { ok: false; issues: { path: (string | number)[]; message: string }[] };
};
