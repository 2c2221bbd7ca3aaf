#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into ./build-fuzz, and runs each over its seed
# corpus. docs/reliability.md ("Fuzzing") describes the targets and records
# long runs.
#
#   scripts/fuzz.sh [--seconds N | --runs N] [--fork J] [--no-build] [TARGET...]
#
#   --seconds N  run each target for N seconds (default 60)
#   --runs N     run each target for N executions instead (in all, with --fork)
#   --fork J     libFuzzer's fork mode: J worker processes share the corpus
#   --no-build   skip configure and build (another fuzz.sh already built)
#   TARGET       gguf_reader, envelope_verify, run_result_verify, suite_loader,
#                http_handlers (default: all five, one after another)
#
# Each target starts from a scratch copy of tests/fuzz/corpus/TARGET (the
# tree's corpus is never modified) and the seeds write_fuzz_seeds writes from
# the current tree, in build-fuzz/fuzz-work/TARGET, with its dictionary, a
# per-input timeout of 10 s (hang detection), a 2 GB RSS limit and leak
# detection. Exits nonzero when any target crashes, leaks, hangs or runs out
# of memory, after printing the reproducer and the command that replays it.
# CI: scripts/fuzz.sh --seconds 30.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
runs=
fork=
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; runs=; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --fork) fork="$2"; shift 2 ;;
    --no-build) build=; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(gguf_reader envelope_verify run_result_verify suite_loader http_handlers)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  case " ${all[*]} " in
    *" $t "*) ;;
    *) echo "fuzz.sh: unknown target '$t'; targets: ${all[*]}" >&2; exit 2 ;;
  esac
done

# Per target: the longest input and the dictionary.
max_len() {
  case "$1" in
    gguf_reader) echo 16384 ;;
    http_handlers) echo 16384 ;;  # past the 8 KiB request-line limit (414)
    *) echo 8192 ;;
  esac
}
dict() {
  case "$1" in
    gguf_reader) echo tests/fuzz/dict/gguf_reader.dict ;;
    suite_loader) echo tests/fuzz/dict/suite_loader.dict ;;
    http_handlers) echo tests/fuzz/dict/http.dict ;;
    *) echo tests/fuzz/dict/verify.dict ;;
  esac
}

build_dir=build-fuzz
if [ -n "$build" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAISCORE_CUDA=OFF -DAISCORE_FUZZ=ON -DAISCORE_BUILD_TESTS=OFF \
    -DAISCORE_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]/%/_fuzzer}" write_fuzz_seeds
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

failed=()
for t in "${targets[@]}"; do
  bin="$build_dir/tests/fuzz/${t}_fuzzer"
  work="$build_dir/fuzz-work/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  # Seeds written by this tree's code, beside the committed ones: a suite or
  # RunResult edit since tests/fuzz/corpus was written would otherwise leave
  # the verifier targets stopping at "unknown suite".
  if "$build_dir/tests/fuzz/write_fuzz_seeds" "$work/fresh" >/dev/null; then
    for f in "$work/fresh/$t"/*; do
      [ ! -e "$f" ] || cp "$f" "$work/corpus/fresh-$(basename "$f")"
    done
  else
    echo "fuzz.sh: warning: write_fuzz_seeds failed (above); $t starts from tests/fuzz/corpus only" >&2
  fi
  [ "$t" != suite_loader ] || cp suites/*.textproto "$work/corpus/"
  limit=(-max_total_time="$seconds")
  [ -z "$runs" ] || limit=(-runs="$runs")
  [ -z "$fork" ] || limit+=(-fork="$fork")
  if [ -n "$runs" ]; then what="$runs runs"; else what="$seconds s"; fi
  echo "== $t: $what, log $work/log"
  rc=0
  "$bin" "${limit[@]}" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -detect_leaks=1 -dict="$(dict "$t")" -artifact_prefix="$work/artifacts/" \
    -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1 || rc=$?
  grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/log" || true
  artifacts=("$work"/artifacts/*)
  if [ "$rc" -ne 0 ] || [ -e "${artifacts[0]}" ]; then
    echo "!! $t failed (exit $rc):" >&2
    grep -E '_fuzzer: |ERROR: |SUMMARY: |runtime error:|Test unit written' "$work/log" \
      | head -20 >&2 || true
    for a in "${artifacts[@]}"; do
      [ -e "$a" ] || continue
      echo "   reproducer: $a" >&2
      echo "   replay:     $bin $a" >&2
    done
    echo "   full log:   $work/log" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash, leak, hang or out-of-memory in: ${targets[*]}"
