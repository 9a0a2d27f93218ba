#!/usr/bin/env bash
# Installs what `npm test` / `npm run demo` need when it is missing: Debian packages (as root) and
# node_modules (`npm ci` when absent or older than package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(
  iproute2 nftables iputils-ping dnsutils containernetworking-plugins conntrack util-linux procps
  iperf3 dnsperf knot podman runc busybox-static tcpdump python3 gcc libc6-dev haproxy curl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "podnet: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "podnet: missing Debian packages (run as root to install them): ${missing[*]}" >&2
  fi
fi

# knot's package starts a system daemon on port 53; the benchmark runs its own instance.
# haproxy's starts one on the host; the cluster's ingress controller runs its own in a pod.
if [ "$(id -u)" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
  for unit in knot haproxy; do systemctl disable --now "$unit" >/dev/null 2>&1 || true; done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "podnet: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
