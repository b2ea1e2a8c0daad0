// Bundles the dashboard page (src/web) into dist/web/: index.html, app.js (the page, preact, uPlot and
// the bus client's browser entry) and app.css. The node serves these files from its package at `/`.
// Usage: node scripts/bundle-web.mjs [--outdir=DIR] (default dist/web).
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = resolve(
  root,
  process.argv.find((arg) => arg.startsWith("--outdir="))?.slice("--outdir=".length) ?? "dist/web",
);

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [
    { in: "src/web/main.ts", out: "app" },
    { in: "src/web/app.css", out: "app" },
  ],
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  logLevel: "warning",
}).catch((error) => {
  if (Array.isArray(error?.errors)) process.exit(1);
  throw error;
});
// The page must run in a browser as served: nothing of Node's may have been pulled in.
for (const [input, { imports }] of Object.entries(result.metafile.inputs)) {
  const node = imports.find((entry) => entry.path.startsWith("node:") || entry.external);
  if (node) throw new Error(`${input} imports ${node.path}: the page cannot load it in a browser`);
}
await copyFile(join(root, "src/web/index.html"), join(outdir, "index.html"));
