#!/usr/bin/env bash
# Installs everything the tests need (npm packages, the Go build of the pinned tailscaled),
# type-checks, then runs the unit, integration and interop tests. Every service the tests use
# is started by the tests themselves on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
bash interop/build.sh

# The Go probes' own tests run them against servers built from Tailscale's code.
(cd interop && GOTOOLCHAIN=local go test ./cmd/...)

report=$(mktemp -d)/vitest.json
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?

# One plain summary line, for readers that do not know vitest's output.
if [[ -f "$report" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  ' "$report" || status=1
fi
exit "$status"
