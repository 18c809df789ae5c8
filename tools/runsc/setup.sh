#!/usr/bin/env bash
# Installs gVisor's runsc from Debian and registers it with the Docker engine as the runtime
# "runsc" (`make runsc`). Idempotent: what is already in place is left as it is. A running
# dockerd is reloaded with SIGHUP (it rereads its runtimes; running containers are untouched);
# when none runs, one is started.
#
# The runtime's arguments are what this machine's kind needs (SECURITY.md "gVisor"):
#   --platform=ptrace  the kvm platform needs /dev/kvm and hangs without it;
#   --network=none     Docker's "none" network is refused otherwise ("cannot run with network
#                      enabled in root network namespace").
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
CONF=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
RUNSC=/usr/bin/runsc
want=$(printf '{"path":"%s","runtimeArgs":["--platform=ptrace","--network=none"]}' "$RUNSC")

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

need=()
[ -x "$RUNSC" ] || need+=(runsc)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  echo "runsc: installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Merge the runtime into daemon.json, keeping every other key as it is.
current='{}'
if [ -s "$CONF" ]; then
  current=$(cat "$CONF")
  echo "$current" | jq -e 'type == "object"' >/dev/null || { echo "runsc: $CONF is not a JSON object; fix it by hand" >&2; exit 1; }
fi
changed=0
if ! echo "$current" | jq -e --argjson want "$want" '.runtimes.runsc == $want' >/dev/null; then
  "${sudo[@]}" mkdir -p "$(dirname "$CONF")"
  tmp=$(mktemp)
  echo "$current" | jq --argjson want "$want" '.runtimes.runsc = $want' >"$tmp"
  "${sudo[@]}" install -m 0644 "$tmp" "$CONF"
  rm -f "$tmp"
  changed=1
  echo "runsc: registered in $CONF"
fi

registered() { docker info --format '{{json .Runtimes}}' 2>/dev/null | jq -e 'has("runsc")' >/dev/null; }

if ! docker info >/dev/null 2>&1; then
  echo "runsc: starting dockerd"
  ("${sudo[@]}" dockerd >/tmp/codeexec-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "runsc: dockerd did not come up"; tail -50 /tmp/codeexec-dockerd.log; exit 1; }
elif [ $changed -eq 1 ] || ! registered; then
  pid=$(pidof dockerd || true)
  if [ -z "$pid" ]; then
    echo "runsc: the engine answers but no local dockerd runs: restart it so it reads $CONF" >&2
    exit 1
  fi
  echo "runsc: reloading dockerd ($pid)"
  "${sudo[@]}" kill -HUP $pid
fi
for _ in $(seq 1 20); do registered && break; sleep 0.5; done
registered || { echo "runsc: the engine did not pick up the runtime; see its log (a reload error names the key)" >&2; exit 1; }
echo "runsc: $($RUNSC --version 2>/dev/null | head -1), registered with docker $(docker version --format '{{.Server.Version}}')"
