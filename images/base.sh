#!/usr/bin/env bash
# Makes sure the base image debian:bookworm-slim exists in the local engine.
# Order: already present -> pull -> build it here with debootstrap (minbase) and `docker import`.
# The last path exists because some machines (CI here) reach Debian's mirror but not Docker Hub.
set -euo pipefail
# CODEEXEC_BASE only serves to try the debootstrap path beside a real base (the Dockerfiles name
# debian:bookworm-slim).
BASE=${CODEEXEC_BASE:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "base: $BASE present"
  exit 0
fi
echo "base: $BASE not present; trying docker pull"
if timeout 60 docker pull "$BASE" >/dev/null 2>&1; then
  echo "base: pulled $BASE"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "base: cannot pull $BASE and debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "base: debootstrap needs root to create $BASE" >&2; exit 1; }
root=$(mktemp -d /tmp/codeexec-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base: creating $BASE with debootstrap from $MIRROR (about a minute)"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" | while read -r line; do
  case "$line" in I:\ Retrieving*|I:\ Extracting*|I:\ Unpacking*|I:\ Configuring*) ;; *) echo "  $line";; esac
done
# Slim it like the official image: no apt lists, docs or man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/*.bin
# The official image uses the deb822 sources file including security updates.
rm -f "$root"/etc/apt/sources.list
cat > "$root"/etc/apt/sources.list.d/debian.sources <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$BASE" >/dev/null
echo "base: created $BASE"
