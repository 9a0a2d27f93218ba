#!/usr/bin/env bash
# `npm run bench`: every package's bench/index.ts, each against its anchor, in one run.
# Results: printed tables with ratios, and bench-results/<name>.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
export TURBO_TELEMETRY_DISABLED=1
bash tools/scripts/ensure-deps.sh || exit 1
unset NODE_EXTRA_CA_CERTS
npx turbo run build --output-logs=errors-only || exit 1
mkdir -p bench-results
only=${1:-}
status=0
for f in packages/*/bench/index.ts examples/*/bench/index.ts tools/*/bench/index.ts; do
  [ -f "$f" ] || continue
  case "$f" in *"$only"*) ;; *) continue ;; esac
  printf '\n==== %s\n' "$f"
  node --conditions=source --import tsx "$f" || { echo "bench $f FAILED"; status=1; }
done
exit $status
