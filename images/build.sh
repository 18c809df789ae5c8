#!/usr/bin/env bash
# Builds the language images that are missing or out of date.
# usage: images/build.sh CONFIG [LANGUAGE...]
# Each image is labelled with a hash of its folder; an image whose label differs is rebuilt,
# so editing a Dockerfile is enough to get a new image on the next `make images`.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-config.yaml}; shift || true
want=" $* "
bash images/base.sh
bin/codeexec -config "$config" -list-images | while read -r lang image; do
  [ "$want" = "  " ] || [[ "$want" == *" $lang "* ]] || continue
  dir=images/$lang
  [ -f "$dir/Dockerfile" ] || { echo "images: $lang: no $dir/Dockerfile" >&2; exit 1; }
  hash=$( (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "codeexec.context" }}' "$image" 2>/dev/null || true)
  if [ "$have" = "$hash" ]; then
    echo "images: $image up to date"
    continue
  fi
  echo "images: building $image from $dir (a few minutes for java and go; apt output follows)"
  start=$(date +%s)
  DOCKER_BUILDKIT=0 docker build --label "codeexec.context=$hash" -t "$image" "$dir" 2>&1 \
    | grep --line-buffered -E '^(Step |Setting up |Get:[0-9]+ |Successfully|E: |error)|returned a non-zero code|ERROR' | sed -u "s/^/  [$lang] /"
  docker image inspect "$image" >/dev/null 2>&1 || { echo "images: building $image failed" >&2; exit 1; }
  echo "images: built $image in $(( $(date +%s) - start ))s"
done
