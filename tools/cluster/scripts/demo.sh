#!/usr/bin/env bash
# npm run demo: from a fresh clone, as root. Installs what is missing, builds the cluster tool,
# the node agent and the CNI shim (with the packages they use), then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [ "$(id -u)" != 0 ]; then echo "npm run demo: run as root (it creates network namespaces)" >&2; exit 2; fi
bash tools/scripts/ensure-deps.sh
export TURBO_TELEMETRY_DISABLED=1
npx turbo run build --output-logs=errors-only \
  --filter=@podnet/cluster... --filter=@podnet/example-node-agent... --filter=@podnet/example-cni-plugin...
exec node tools/cluster/dist/bin/podnet-demo.js "$@"
