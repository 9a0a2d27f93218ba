#!/usr/bin/env bash
# `npm test`: everything. Installs what is missing, builds, typechecks, lints, runs unit tests and
# (as root) the namespace tests, then checks the packed packages in a consumer project.
set -uo pipefail
cd "$(dirname "$0")/../.."
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1 PODNET_SKIP_BUILD=1

bash tools/scripts/ensure-deps.sh || exit 1

failed=()
step() {
  local name=$1
  shift
  printf '\n== %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    printf -- '-- %s ok (%ss)\n' "$name" $((SECONDS - t0))
  else
    printf -- '-- %s FAILED (%ss)\n' "$name" $((SECONDS - t0))
    failed+=("$name")
  fi
}

step build npx turbo run build --output-logs=errors-only
step typecheck npx tsc -p tsconfig.json --noEmit
step lint npx biome check --diagnostic-level=error .

mkdir -p .tmp
report=.tmp/vitest-report.json
rm -f "$report"
if [ "$(id -u)" -eq 0 ]; then
  step tests npx vitest run --reporter=default --reporter=json --outputFile.json="$report"
else
  step "unit tests" npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$report"
  echo
  echo "NOT RUN: the namespace suites need root (they create network namespaces). Run npm test as root to run:"
  find packages examples tools -path '*/node_modules' -prune -o -path '*/test/netns/*.test.ts' -print | sort | sed 's/^/  /'
fi

step "package checks" node tools/scripts/check-packages.mjs

node -e '
const fs = require("fs");
try {
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
} catch { console.log("\ntests: 0 passed, 1 failed"); }
' "$report"

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nnpm test FAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nnpm test passed\n'
