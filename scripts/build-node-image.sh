#!/usr/bin/env bash
# Builds the TreeScale node image on a base made from this machine's node (no registry is needed):
#   scripts/build-node-image.sh [tag]   (default tag: treescale/node:<version in package.json>)
# The bundle is built on the host (npm run build, only when dist/cli or dist/web is missing); the image gets it
# and the packages it still loads from node_modules. The image is labelled with a hash of what went
# into it and rebuilt only when that changes. Prints the image ID on stdout, progress on stderr.
# TREESCALE_NODE_BASE names another base, e.g. node:20-bookworm-slim where a registry is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'require("./package.json").version')
tag="${1:-treescale/node:$version}"
base="${TREESCALE_NODE_BASE:-local/node-base:20}"
case "$base" in
  local/*) scripts/make-node-base.sh "$base" >&2 ;;
  *) docker image inspect "$base" >/dev/null 2>&1 || docker pull "$base" >&2 ;;
esac
base_id=$(docker image inspect -f '{{.Id}}' "$base")
# npm run build empties dist/ first: tests running the CLI meanwhile may find it missing.
if [ ! -f dist/cli/treescale.js ] || [ ! -f dist/web/index.html ]; then npm run build >&2; fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/dist"
cp Dockerfile package.json "$context/"
cp -R manifests "$context/"
cp -R dist/cli "$context/dist/"
# The dashboard page the node serves at / (plain files; nothing in it is loaded by Node).
cp -R dist/web "$context/dist/"
# The packages the bundle still loads at run time are those it names by a bare specifier (externals
# in scripts/bundle.mjs, such as dockerode with its native addons), found here in the bundle itself
# so a new external needs no change; ones not installed are optional (ws's bufferutil). Their
# dependencies are found as Node finds them, nearest node_modules first; type packages carry no code.
node --input-type=module - dist/cli <<'SCRIPT' >"$context/packages"
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative } from "node:path";
const root = process.cwd();
const found = new Set();
function locate(from, name) {
  for (let directory = from; ; directory = dirname(directory)) {
    const candidate = join(directory, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (directory === root) return undefined;
  }
}
function visit(directory) {
  if (found.has(directory)) return;
  found.add(directory);
  const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8"));
  for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
    const dependency = name.startsWith("@types/") ? undefined : locate(directory, name);
    if (dependency) visit(dependency);
  }
}
const specifier = /(?:\bfrom|\bimport\(|require\()\s*"([^"./\s][^"\s]*)"/g;
const bundle = readdirSync(process.argv[2], { recursive: true }).filter((file) => file.endsWith(".js"));
const names = new Set();
for (const file of bundle) {
  for (const [, name] of readFileSync(join(process.argv[2], file), "utf8").matchAll(specifier)) {
    if (!isBuiltin(name)) names.add(name.split("/").slice(0, name.startsWith("@") ? 2 : 1).join("/"));
  }
}
for (const name of [...names].sort()) {
  const directory = locate(root, name);
  process.stderr.write(`build-node-image: the bundle loads ${name}${directory ? "" : " (not installed: optional)"}\n`);
  if (directory) visit(directory);
}
for (const directory of [...found].sort()) console.log(relative(root, directory));
SCRIPT
# Each package without its nested node_modules: those it needs are in the list themselves.
while read -r package; do
  mkdir -p "$context/$package"
  tar -C "$package" --exclude=./node_modules -c . | tar -C "$context/$package" -x
done <"$context/packages"
rm "$context/packages"

content=$(
  cd "$context"
  { echo "$base_id"; find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16
)
previous=$(docker image inspect -f '{{.Id}} {{index .Config.Labels "treescale.image-content"}}' "$tag" 2>/dev/null || true)
if [ "${previous#* }" != "$content" ]; then
  started=$(date +%s)
  docker build --build-arg BASE="$base" --label treescale.image-content="$content" -t "$tag" "$context" >&2
  # The image this one replaced, unless something still uses it (a tag, a container).
  if [ -n "$previous" ]; then docker image rm "${previous%% *}" >/dev/null 2>&1 || true; fi
  echo "built image $tag in $(($(date +%s) - started)) s" >&2
fi
docker image inspect -f '{{.Size}}' "$tag" | awk -v tag="$tag" '{ printf "%s: %.0f MB\n", tag, $1 / 1e6 }' >&2
docker image inspect -f '{{.Id}}' "$tag"
