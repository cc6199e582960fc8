#!/usr/bin/env bash
# Runs a benchmark from bench/ by name, for example: bash scripts/bench.sh control-channel
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
name=${1:?usage: scripts/bench.sh NAME (one of: $(ls bench | sed -n 's/\.ts$//p' | tr '\n' ' '))}
shift
exec node "dist/bench/$name.js" "$@"
