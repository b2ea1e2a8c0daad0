#!/usr/bin/env bash
# Builds a tiny local image from Debian's static busybox (no registry is needed):
#   scripts/make-busybox-image.sh [tag]   (default tag: local/busybox:1)
# Idempotent: does nothing when the tag already exists.
set -euo pipefail
tag="${1:-local/busybox:1}"
if docker image inspect "$tag" >/dev/null 2>&1; then exit 0; fi
busybox=$(command -v busybox || true)
# The image has no libc, so only a statically linked busybox runs in it.
if [ -z "$busybox" ] || ! { ldd "$busybox" 2>&1 || true; } | grep -q "not a dynamic"; then
  echo "make-busybox-image: a static busybox is needed: apt-get install busybox-static" >&2
  exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'hello from treescale' > "$root/www/index.html"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$tag" >/dev/null
echo "built image $tag"
