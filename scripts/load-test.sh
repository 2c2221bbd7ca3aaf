#!/usr/bin/env bash
# Load on the collector (docs/reliability.md): a fresh collector on loopback,
# THREADS concurrent submitters for SECONDS, then the check that every
# acknowledged submission is stored. Prints the load tool's JSON (calls,
# errors, latency percentiles in ms, rate) and the check's.
#
#   scripts/load-test.sh [SECONDS] [THREADS]     (default 60 s, 64 threads; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
threads=${2:-64}
build=${BUILD:-build}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$build/collector/aiscore-collector" --db "$work/load.db" --listen 127.0.0.1:0 \
  --rate-per-peer off --rate-per-key off >"$work/collector.log" 2>&1 &
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/collector.log" && break
  sleep 0.1
done
target=$(sed -n 's/^listening on //p' "$work/collector.log" | head -1)
load=$build/tests/collector/reliability/aiscore_submit_load
status=0
"$load" --target "$target" --threads "$threads" --seconds "$seconds" --acked "$work/acked.txt" ||
  status=1
"$load" --check-db "$work/load.db" --acked "$work/acked.txt" || status=1
exit $status
