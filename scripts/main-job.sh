#!/usr/bin/env bash
# The main job on this machine: install, build, start a local collector on an
# SQLite file, run the benchmark suite on the local accelerator and submit the
# signed result to it, then print the collector's leaderboard and its web
# address (leaderboard pages, JSON API, /healthz, Prometheus /metrics).
#
# Suite: v1 (the leaderboard basket: the 7B model at F16, Q8_0, Q4_K, Q2_K) when
# an NVIDIA GPU is present, else the quick suite (seconds on a CPU; not ranked,
# so its board stays empty) unless AISCORE_SUITE=v1 asks for the basket. On the
# 2-core development CPU v1 takes about two hours (chat 12 minutes for the four
# formats; each long case's 8192-token prefill 15 to 30 minutes). The runner
# prints its estimate before the first case. Extra arguments go to `aiscore run`
# (e.g. --format q4_k, --workload chat). The database is $AISCORE_DB (default
# ./aiscore-local.db) and is kept, so results accumulate across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
aiscore=build/agent/cli/aiscore
collector=build/collector/aiscore-collector
"$aiscore" info

suite="${AISCORE_SUITE:-}"
if [ -z "$suite" ]; then
  if "$aiscore" info --json | grep -q '"gpus": \[$'; then suite=v1; else suite=quick; fi
fi

log=$(mktemp)
"$collector" --db "${AISCORE_DB:-aiscore-local.db}" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  >"$log" 2>&1 &
collector_pid=$!
trap 'kill "$collector_pid" 2>/dev/null; wait "$collector_pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  kill -0 "$collector_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
address=$(sed -n 's/.*listening on //p' "$log" | head -1)
http=$(sed -n 's/.*http on //p' "$log" | head -1)
[ -n "$address" ] || { echo "main-job: the collector did not start" >&2; cat "$log" >&2; exit 1; }
echo "local collector: $address (database ${AISCORE_DB:-aiscore-local.db})"

"$aiscore" run --suite "$suite" --submit "$address" "$@"
echo
echo "leaderboard of suite $suite at $address:"
"$aiscore" leaderboard --suite "$suite" --collector "$address"
if [ "$suite" = quick ]; then
  echo "(the quick suite is never ranked, so its board stays empty; AISCORE_SUITE=v1 runs the basket)"
fi
echo
echo "collector: gRPC $address; web pages http://$http/ (leaderboard, /gpu/NAME, /result/ID,"
echo "  /predict), JSON API http://$http/api/v1, /healthz and /metrics"
