#!/usr/bin/env bash
# Installs the npm packages when package-lock.json changed since the last install, and compiles
# the TypeScript. better-sqlite3 and zstd-napi compile native code, which takes a minute or two
# on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install: Node.js 20 and npm are required (node --version should print v20.19 or newer)" >&2
  exit 1
fi

stamp=node_modules/.wonder-lock-hash
wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$wanted" >"$stamp"
fi

npx tsc -p tsconfig.json
chmod +x dist/src/cli/main.js
