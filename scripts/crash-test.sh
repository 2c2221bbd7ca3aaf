#!/usr/bin/env bash
# Crash safety of the collector (docs/reliability.md): ROUNDS times, start
# aiscore-collector on one database file, submit from 8 threads, SIGKILL the
# collector at a random moment (0.3 to 2.3 s in), then check the file:
# PRAGMA integrity_check says ok and every submission the collector
# acknowledged, over all rounds so far, is stored.
#
#   scripts/crash-test.sh [ROUNDS]     (default 100; BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
build=${BUILD:-build}
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# Copies, so that a rebuild meanwhile does not pull the binaries away.
cp "$build/collector/aiscore-collector" "$build/tests/collector/reliability/aiscore_submit_load" \
  "$work/"
collector=$work/aiscore-collector
load=$work/aiscore_submit_load
db=$work/crash.db
acked=$work/acked.txt
: >"$acked"
for round in $(seq 1 "$rounds"); do
  log=$work/collector.log
  "$collector" --db "$db" --listen 127.0.0.1:0 --rate-per-peer off --rate-per-key off \
    >"$log" 2>&1 &
  pid=$!
  started=$(date +%s.%N)
  for _ in $(seq 1 600); do  # up to 60 s: recovery reads the write-ahead log
    grep -q "listening on" "$log" && break
    sleep 0.1
  done
  startup=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  target=$(sed -n 's/^listening on //p' "$log" | head -1)
  if [ -z "$target" ]; then
    echo "round $round: the collector did not start in 60 s; its output:" >&2
    cat "$log" >&2
    if [ -n "${KEEP:-}" ]; then
      cp "$db"* "$KEEP"/ 2>/dev/null || true
      command -v gdb >/dev/null && gdb -batch -p "$pid" -ex "thread apply all bt" >"$KEEP/stacks.txt" 2>&1
    fi
    exit 1
  fi
  "$load" --target "$target" --threads 8 --seconds 30 --acked "$acked" --until-down \
    >"$work/load.json" &
  loader=$!
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + 2.0 * r / 32767 }')"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  if ! wait "$loader"; then
    echo "round $round: submissions failed before the kill: $(cat "$work/load.json")" >&2
    exit 1
  fi
  if ! check=$("$load" --check-db "$db" --acked "$acked"); then
    echo "round $round: $check" >&2
    exit 1
  fi
  echo "round $round/$rounds: started in ${startup} s, $check"
done
echo "crash test: $rounds SIGKILLs, integrity ok, no acknowledged submission lost"
