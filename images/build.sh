#!/usr/bin/env bash
# Builds the language images that are missing or out of date, and the family images they start
# FROM (images/family-*: layers that several languages share), parents before children, images
# that do not depend on each other in parallel.
# usage: images/build.sh CONFIG [LANGUAGE...]   (or LANGUAGES=python,c,rust; default: every language)
# IMAGE_JOBS sets how many images build at once (default 3).
#
# An image's folder is images/<name> for image codeexec/<name>. Each image is labelled with a
# hash of its folder (examples/ and the version file aside: they do not go into the image) and of
# its parent image; an image whose label differs is rebuilt, so editing a Dockerfile is enough
# to get a new image on the next `make images`.
# The folder's `version` file is a shell command run in the built image that prints the
# toolchain's version (from its own --version); the answer is recorded as the image's label
# codeexec.version, which the server reads at start (GET /api/v1/languages shows it).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-config.yaml}; shift || true
want=" $* ${LANGUAGES:-} "; want=${want//,/ }
jobs=${IMAGE_JOBS:-3}
bash images/base.sh

declare -A parent=()
images=()
# wanted IMAGE: adds IMAGE and the codeexec/ images it is built FROM.
wanted() {
  local image=$1 dir p
  [ -n "${parent[$image]+set}" ] && return 0
  dir=images/${image#*/}
  [ -f "$dir/Dockerfile" ] || { echo "images: $image: no $dir/Dockerfile" >&2; exit 1; }
  p=$(sed -n 's/^FROM[[:space:]]\{1,\}\(codeexec\/[^[:space:]]*\).*/\1/p' "$dir/Dockerfile" | head -1)
  parent[$image]=$p
  [ -z "$p" ] || wanted "$p"
  images+=("$image")
}
while read -r lang image; do
  [ "$want" = "   " ] || [[ "$want" == *" $lang "* ]] || continue
  wanted "$image"
done < <(bin/codeexec -config "$config" -list-images)
[ ${#images[@]} -gt 0 ] || { echo "images: no configured language matches:$want" >&2; exit 1; }

# build IMAGE: builds it if its label is out of date, then records its version label.
build() {
  local image=$1 dir=images/${1#*/} name=${1#*/} hash have start p=${parent[$1]} pid="" version vcmd
  [ -z "$p" ] || pid=$(docker image inspect -f '{{.Id}}' "$p")
  hash=$( { (cd "$dir" && find . -type f -not -path './examples/*' -not -name version | LC_ALL=C sort | xargs sha256sum); [ -z "$pid" ] || echo "$pid"; } | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{ index .Config.Labels "codeexec.context" }}' "$image" 2>/dev/null || true)
  if [ "$have" = "$hash" ]; then
    echo "images: $image up to date"
  else
    echo "images: building $image from $dir${p:+ (on $p)}"
    start=$(date +%s)
    DOCKER_BUILDKIT=0 docker build --label "codeexec.context=$hash" -t "$image" "$dir" 2>&1 \
      | grep --line-buffered -E '^(Step |Setting up |Successfully|E: |error)|returned a non-zero code|ERROR' | sed -u "s/^/  [$name] /"
    [ "$(docker image inspect -f '{{ index .Config.Labels "codeexec.context" }}' "$image" 2>/dev/null)" = "$hash" ] \
      || { echo "images: building $image failed" >&2; return 1; }
    echo "images: built $image in $(( $(date +%s) - start ))s"
  fi
  [ -f "$dir/version" ] || return 0
  vcmd=$(sha256sum < "$dir/version" | cut -c1-16)
  [ "$(docker image inspect -f '{{ index .Config.Labels "codeexec.versioncmd" }}' "$image")" = "$vcmd/$hash" ] && return 0
  version=$(docker run --rm --network none --entrypoint sh "$image" -c "$(cat "$dir/version")" 2>/dev/null | head -1 | tr -d '\r') || true
  [ -n "$version" ] || { echo "images: $image: $dir/version printed nothing" >&2; return 1; }
  echo "FROM $image" | docker build -q --label "codeexec.version=$version" --label "codeexec.versioncmd=$vcmd/$hash" -t "$image" - >/dev/null 2>&1 \
    || { echo "images: labelling $image failed" >&2; return 1; }
  echo "images: $image version $version"
}

total=${#images[@]} all_start=$(date +%s) done_count=0
declare -A state=()   # image -> running | done
declare -A pid_of=()  # build process -> image
# An image starts as soon as its parent is built, up to $jobs builds at once.
while (( done_count < total )); do
  for image in "${images[@]}"; do
    (( ${#pid_of[@]} < jobs )) || break
    [ -z "${state[$image]:-}" ] || continue
    p=${parent[$image]}
    [ -z "$p" ] || [ "${state[$p]:-}" = done ] || continue
    build "$image" &
    pid_of[$!]=$image
    state[$image]=running
  done
  finished=""
  if ! wait -n -p finished; then
    echo "images: building ${pid_of[$finished]} failed (its output is above)" >&2
    wait
    exit 1
  fi
  state[${pid_of[$finished]}]=done
  unset "pid_of[$finished]"
  done_count=$((done_count + 1))
  echo "images: [$done_count/$total] ready"
done
echo "images: $total images ready in $(( $(date +%s) - all_start ))s"
