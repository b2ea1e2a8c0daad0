// Bundles the CLI into dist/cli/ so that a run loads a handful of files instead of hundreds: Node's
// module loading (resolve, read, compile per file) was most of the start-up of `--version` and
// `validate`. Each verb stays a chunk of its own behind its `import()`, so a run still loads only its verb.
// Usage: node scripts/bundle.mjs [--outdir=DIR] (default dist/cli; a scratch DIR for measuring).
import { chmod, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = resolve(
  root,
  process.argv.find((arg) => arg.startsWith("--outdir="))?.slice("--outdir=".length) ?? "dist/cli",
);

// dockerode and ssh2 stay packages loaded from node_modules: they pull in native addons (ssh2's crypto
// binding, cpu-features, each optional with a pure-JS fallback) and files read at run time that a bundle
// cannot carry, and the CLI imports them lazily anyway (the SSH driver only when it connects).
const EXTERNAL = ["dockerode", "ssh2"];

// Bundled CommonJS packages (commander) call require() for Node's built-ins; an ES module has no
// require, so each output file makes its own.
const REQUIRE_SHIM =
  'import { createRequire as __bundleCreateRequire } from "node:module"; ' +
  "const require = __bundleCreateRequire(import.meta.url);";

/**
 * With code splitting, esbuild turns `await import("a-commonjs-package")` into a chunk that exports
 * only `default` (evanw/esbuild#3245), where Node would also give the package's named exports
 * (`(await import("yaml")).stringify`). Such an import is sent through a small ES module that
 * re-exports each name the package has, found by loading it here once.
 */
const commonJsDynamicImports = {
  name: "commonjs-dynamic-imports",
  setup(builder) {
    const NAMESPACE = "commonjs-reexport";
    builder.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.kind !== "dynamic-import" || args.pluginData === NAMESPACE) return undefined;
      const resolved = await builder.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: NAMESPACE,
      });
      if (resolved.errors.length > 0 || resolved.external || !(await isCommonJs(resolved.path)))
        return undefined;
      return { path: resolved.path, namespace: NAMESPACE };
    });
    builder.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => {
      const names = Object.keys(createRequire(args.path)(args.path)).filter(
        (name) => name !== "default" && name !== "__esModule" && /^[A-Za-z_$][\w$]*$/.test(name),
      );
      const source = JSON.stringify(args.path);
      return {
        contents:
          `import * as commonJs from ${source};\n` +
          `export default commonJs.default;\n` +
          `export const { ${names.join(", ")} } = commonJs;\n`,
        resolveDir: dirname(args.path),
        loader: "js",
      };
    });
  },
};

/** A file is CommonJS when its extension or the nearest package.json's "type" says so, as in Node. */
async function isCommonJs(path) {
  if (path.endsWith(".cjs")) return true;
  if (path.endsWith(".mjs") || !path.endsWith(".js")) return false;
  for (let directory = dirname(path); directory !== dirname(directory); directory = dirname(directory)) {
    const manifest = await readFile(join(directory, "package.json"), "utf8").catch(() => undefined);
    if (manifest !== undefined) return JSON.parse(manifest).type !== "module";
  }
  return true;
}

/** Fails the build when the files loaded before any verb runs would load an external package eagerly. */
function assertStartupAvoids(metafile, entry, packages) {
  const seen = new Set();
  const visit = (output) => {
    if (seen.has(output)) return;
    seen.add(output);
    for (const { path, kind, external } of metafile.outputs[output]?.imports ?? []) {
      if (kind !== "import-statement") continue;
      if (external && packages.includes(path))
        throw new Error(`${output} imports ${path} statically: keep it behind import() so start-up skips it`);
      if (!external) visit(path);
    }
  };
  visit(entry);
}

await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: "src/cli/main.ts" },
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  // ESM builds first: some packages' CommonJS entry is a UMD wrapper whose require() calls esbuild
  // cannot follow (jsonc-parser's lib/umd asks for "./impl/format" at run time).
  mainFields: ["module", "main"],
  target: "node20",
  external: EXTERNAL,
  banner: { js: REQUIRE_SHIM },
  // Error classes name themselves from new.target.name; esbuild's renaming must not show through.
  keepNames: true,
  // Maps name src/ files and lines; the sources themselves stay out, which keeps the maps small.
  sourcemap: "linked",
  sourcesContent: false,
  plugins: [commonJsDynamicImports],
  metafile: true,
  logLevel: "warning",
}).catch((error) => {
  // esbuild has printed each error with its file and line already; its stack would add nothing.
  if (Array.isArray(error?.errors)) process.exit(1);
  throw error;
});
assertStartupAvoids(result.metafile, relative(root, join(outdir, "main.js")), EXTERNAL);

// The stable entry point (package.json "bin"): source maps have to be on before the first bundled
// file is compiled for Node to apply them, hence this file in front of main.js.
const bin = join(outdir, "treescale.js");
await writeFile(
  bin,
  "#!/usr/bin/env node\n" +
    "// Turns source maps on before the bundle loads, so stack traces name src/ files and lines.\n" +
    "process.setSourceMapsEnabled(true);\n" +
    'await import("./main.js");\n',
);
await chmod(bin, 0o755);
