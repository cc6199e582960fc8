#!/bin/sh
# Entry point of a worker container on the official tailscale/tailscale image (Alpine). It
# installs Node.js from Alpine's package repository and starts tailscaled in
# userspace-networking mode with in-memory state. Then it joins the tailnet with `wonder join`
# from the coordinator build mounted at /opt/wonder.
set -eu

if [ -z "${WONDER_JOIN_TOKEN:-}" ]; then
  echo "join.sh: WONDER_JOIN_TOKEN is empty; create a join token (see docs/deployment.md) and start the workers with it" >&2
  exit 2
fi
if [ ! -f /opt/wonder/dist/src/cli/main.js ]; then
  echo "join.sh: /opt/wonder/dist/src/cli/main.js is missing; the coordinator container builds it on its first start" >&2
  exit 2
fi
if ! command -v node >/dev/null 2>&1; then
  apk add --no-cache nodejs >/dev/null
fi

mkdir -p /var/run/tailscale
tailscaled --state=mem: --tun=userspace-networking --socket=/var/run/tailscale/tailscaled.sock &
daemon=$!
attempt=0
until tailscale status --json >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -gt 100 ]; then
    echo "join.sh: tailscaled did not start within 20 s" >&2
    exit 1
  fi
  sleep 0.2
done

# WONDER_COORDINATOR and WONDER_JOIN_TOKEN come from the environment.
node /opt/wonder/dist/src/cli/main.js join --hostname "${WORKER_HOSTNAME:-$(hostname)}"
wait "$daemon"
