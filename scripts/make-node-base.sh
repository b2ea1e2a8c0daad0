#!/usr/bin/env bash
# Builds a minimal Node.js base image from this machine's own node and the shared libraries it
# links (no registry is needed), for the node image's Dockerfile (ARG BASE):
#   scripts/make-node-base.sh [--force] [tag]   (default tag: local/node-base:20)
# Idempotent: does nothing when the tag already exists, unless --force.
set -euo pipefail
force=false
if [ "${1:-}" = --force ]; then force=true; shift; fi
tag="${1:-local/node-base:20}"
previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
if [ -n "$previous" ] && ! $force; then exit 0; fi

node=$(command -v node || true)
if [ -z "$node" ]; then
  echo "make-node-base: node is not on PATH: install Node.js 20 (the image gets this machine's own)" >&2
  exit 1
fi
node=$(readlink -f "$node")
version=$("$node" --version)
busybox=$(command -v busybox || true)
# The shell and tools (sh, wget for health checks) come from a static busybox: it needs no libraries.
if [ -z "$busybox" ] || ! { ldd "$busybox" 2>&1 || true; } | grep -q "not a dynamic"; then
  echo "make-node-base: a static busybox is needed: apt-get install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/root" "$root/tmp" "$root/var/tmp"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"

# The symbol table is a tenth of the binary and nothing in a container reads it.
if command -v strip >/dev/null 2>&1; then
  strip -o "$root/usr/local/bin/node" "$node"
else
  cp "$node" "$root/usr/local/bin/node"
fi

# Every library at the path ldd names, the loader included (the binary asks for it by that path);
# glibc's loader searches the multiarch directories by default, so no ld.so.cache is needed.
libraries=$(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
if ! grep -q ld-linux <<<"$libraries"; then
  echo "make-node-base: ldd $node names no loader: is it a dynamically linked glibc binary?" >&2
  exit 1
fi
for library in $libraries; do
  mkdir -p "$root$(dirname "$library")"
  cp -L "$library" "$root$library"
done

# busybox --list-full gives each applet its usual place: /bin/sh, /usr/bin/env (for shebangs), wget.
mkdir -p "$root/bin"
cp "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
  if [ -e "$root/$applet" ] || [ "$applet" = linuxrc ]; then continue; fi
  mkdir -p "$root/$(dirname "$applet")"
  ln -s /bin/busybox "$root/$applet"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
# glibc's resolver (getaddrinfo, os.userInfo) reads these; Docker supplies hosts and resolv.conf.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
# Node carries its own CA list; the system bundle is for NODE_OPTIONS=--use-openssl-ca and tools.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi

tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "ENV NODE_VERSION=${version#v}" \
    -c 'WORKDIR /' \
    -c 'CMD ["node"]' \
    -m "node $version from $node, its libraries, static busybox" \
    - "$tag" >/dev/null
if ! docker run --rm "$tag" node -e 'process.exit(0)'; then
  echo "make-node-base: node does not start in $tag (a library ldd did not name?)" >&2
  docker image rm "$tag" >/dev/null
  exit 1
fi
# The image --force replaced, unless something still uses it (a tag, a container, an image built on it).
if [ -n "$previous" ]; then docker image rm "$previous" >/dev/null 2>&1 || true; fi
echo "built image $tag (node $version, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
