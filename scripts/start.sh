#!/usr/bin/env bash
# Installs what is missing, then runs the coordinator with the embedded defaults: HTTP on
# 127.0.0.1:8080, state under ./data. Extra arguments go to `wonder serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec node dist/src/cli/main.js serve "$@"
