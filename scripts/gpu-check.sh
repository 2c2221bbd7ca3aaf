#!/usr/bin/env bash
# Checks the CUDA backend on a GPU machine in one command (docs/install.md):
#   scripts/gpu-check.sh OUTDIR
# Uses ./dist (scripts/make-dist.sh) when present, else builds with
# scripts/build.sh where the build dependencies are installed. Steps, each
# under `timeout`, all within GPU_CHECK_BUDGET_S seconds (default 570):
#   nvidia-smi; aiscore info; the CUDA tests (tests/cuda: backend, ops,
#   forward with the 7B checks); compute-sanitizer memcheck and racecheck over
#   the tiny model's forward tests; `aiscore run` of suite v1 on the cuda
#   backend (no upload; key and run files in a temporary directory).
# OUTDIR receives four files:
#   summary.txt       each step's exit status, time and test counts
#   gpu-check.log     every step's output, in order
#   gtest-xml.tar.gz  the tests' XML reports
#   result.json       the suite run's result (when it finished)
# Exit status: 0 when every step passed, 1 when one failed, timed out or had
# no time left, 2 on a bad command line or when there is nothing to run.
#
# Environment: GPU_CHECK_STEPS (the steps to run, comma separated; default
# info,tests,memcheck,racecheck,run), GPU_CHECK_BUDGET_S (total seconds),
# GPU_CHECK_RUN_ARGS (extra `aiscore run` arguments, e.g. "--workload chat"
# for a shorter run), GPU_CHECK_SANITIZER_FILTER (gtest filter for the
# sanitizer runs, default '*/tiny_*'). When the whole suite does not fit in
# one budget after the tests, run it on its own: GPU_CHECK_STEPS=run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

usage() { sed -n '2,/^set -uo/{/^#/s/^# \{0,1\}//p}' "$0"; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
if [ $# -ne 1 ]; then
  usage >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
budget="${GPU_CHECK_BUDGET_S:-570}"
sanitizer_filter="${GPU_CHECK_SANITIZER_FILTER:-*/tiny_*}"
steps="${GPU_CHECK_STEPS:-info,tests,memcheck,racecheck,run}"
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/xml" "$work/home"
log="$out/gpu-check.log"
summary="$out/summary.txt"
rm -f "$log" "$summary" "$out/gtest-xml.tar.gz" "$out/result.json"

# ---- What to run: ./dist, else a build here ----
if [ -x dist/bin/aiscore ]; then
  source_desc="dist (scripts/make-dist.sh)"
  aiscore="$root/dist/bin/aiscore"
  tests="$root/dist/libexec/aiscore/tests"
elif command -v cmake >/dev/null 2>&1 && pkg-config --exists grpc++ libsodium 2>/dev/null; then
  source_desc="build (scripts/build.sh)"
  echo "gpu-check: no ./dist; building with scripts/build.sh" >&2
  if ! bash scripts/build.sh >"$work/build.log" 2>&1; then
    tail -50 "$work/build.log" >&2
    echo "gpu-check: scripts/build.sh failed" >&2
    exit 2
  fi
  aiscore="$root/build/agent/cli/aiscore"
  tests="$root/build/tests/cuda"
else
  echo "gpu-check: no ./dist here and no build dependencies (cmake, gRPC, libsodium)." >&2
  echo "gpu-check: run scripts/make-dist.sh on a build machine and bring dist/ along." >&2
  exit 2
fi

# ---- cuBLAS: the toolkit's, then a pip nvidia-cublas package's ----
lib_dirs=/usr/local/cuda/lib64
if command -v python3 >/dev/null 2>&1; then
  pip_dirs=$(python3 - <<'EOF' 2>/dev/null
import glob, os, site
roots = list(site.getsitepackages()) + [site.getusersitepackages()]
seen = set()
for root in roots:
    for d in sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib"))):
        if d not in seen and glob.glob(os.path.join(d, "libcublas*.so*")):
            seen.add(d)
            print(d)
EOF
)
  for d in $pip_dirs; do lib_dirs="$lib_dirs:$d"; done
fi
export LD_LIBRARY_PATH="$lib_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The tests fail rather than skip without a device, and run the 7B checks.
export AISCORE_CUDA_TESTS_REQUIRE_DEVICE=1 AISCORE_CUDA_BIG_TESTS=1
# `aiscore run` keeps its key and run files here, not in the caller's home.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/config" XDG_DATA_HOME="$work/home/data"

sanitizer=""
if command -v compute-sanitizer >/dev/null 2>&1; then
  sanitizer=$(command -v compute-sanitizer)
elif [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
  sanitizer=/usr/local/cuda/bin/compute-sanitizer
fi

{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "binaries: $source_desc"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "budget: ${budget}s; steps: $steps"
  echo
  printf '%-22s %-12s %7s  %s\n' step status seconds detail
} >"$summary"

failed=0
# Appends a step's output to the combined log: all of it up to 4 MiB, else
# its first and last 2 MiB.
append_log() {
  local name=$1 file=$2 bytes
  bytes=$(stat -c %s "$file")
  {
    echo
    echo "======== $name ========"
    if [ "$bytes" -le 4194304 ]; then
      cat "$file"
    else
      head -c 2097152 "$file"
      echo
      echo "[... gpu-check cut $((bytes - 4194304)) bytes ...]"
      tail -c 2097152 "$file"
    fi
  } >>"$log"
}

# Test counts from a gtest log, and the first failed tests' names.
gtest_detail() {
  local file=$1 ran passed skipped failed_n names
  ran=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from .* ran\..*/\1/p' "$file" | tail -1)
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$file" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$file" | tail -1)
  failed_n=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$file" | tail -1)
  names=$(sed -n '/tests\{0,1\}, listed below/,$ s/^\[  FAILED  \] \([^ ]*\).*/\1/p' "$file" |
    sed 's/,$//' | grep -v '^[0-9]' | head -10 | tr '\n' ' ')
  printf 'ran %s, passed %s, skipped %s, failed %s' "${ran:-?}" "${passed:-?}" "${skipped:-0}" \
    "${failed_n:-0}"
  [ -n "$names" ] && printf ': %s' "$names"
}

# run_step NAME MAX_SECONDS KIND COMMAND...: runs COMMAND under `timeout`
# with at most MAX_SECONDS and what is left of the budget; KIND "gtest"
# adds test counts to the summary, "sanitizer" those and the error count,
# "run" the score.
run_step() {
  local name=$1 max=$2 kind=$3
  shift 3
  local left=$((budget - (SECONDS - start)))
  local limit=$((max < left ? max : left))
  if [ "$limit" -lt 10 ]; then
    printf '%-22s %-12s %7s  %s\n' "$name" "NOT RUN" 0 "no time left in the ${budget}s budget" \
      >>"$summary"
    failed=$((failed + 1))
    return
  fi
  local file="$work/$name.out" t0=$SECONDS rc status detail=""
  echo "gpu-check: $name (up to ${limit}s)" >&2
  { echo "\$ $*"; echo; } >"$file"
  timeout --kill-after=15 "$limit" "$@" >>"$file" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124 | 137) status=TIMEOUT; detail="killed after ${limit}s; " ;;
    *) status="FAILED($rc)" ;;
  esac
  [ "$rc" -ne 0 ] && failed=$((failed + 1))
  if [ "$kind" = gtest ] || [ "$kind" = sanitizer ]; then
    detail="$detail$(gtest_detail "$file")"
  fi
  if [ "$kind" = sanitizer ]; then
    detail="$detail; $(grep -o 'ERROR SUMMARY: .*' "$file" | tail -1)"
  fi
  if [ "$kind" = run ]; then
    detail="$detail$(grep -o 'AI System Score.*' "$file" | tail -1)"
  fi
  if [ "$rc" -ne 0 ] && { [ "$kind" = plain ] || [ "$kind" = run ]; }; then
    detail="$detail$(grep -v '^[[:space:]]*$' "$file" | tail -1 | cut -c1-200)"
  fi
  append_log "$name (exit $rc, $((SECONDS - t0))s)" "$file"
  printf '%-22s %-12s %7s  %s\n' "$name" "$status" $((SECONDS - t0)) "$detail" >>"$summary"
}

skip_step() {
  printf '%-22s %-12s %7s  %s\n' "$1" "SKIPPED" 0 "$2" >>"$summary"
  printf '\n======== %s (skipped) ========\n%s\n' "$1" "$2" >>"$log"
}

# Is step group $1 among GPU_CHECK_STEPS?
wanted() { [[ ",$steps," == *",$1,"* ]]; }

if wanted info; then
  run_step nvidia-smi 20 plain nvidia-smi
  run_step aiscore-info 60 plain "$aiscore" info
fi
if wanted tests; then
  for t in cuda_backend_test cuda_ops_test cuda_forward_test; do
    case $t in
      cuda_backend_test) max=90 ;;
      cuda_ops_test) max=150 ;;
      *) max=210 ;;
    esac
    if [ -x "$tests/$t" ]; then
      run_step "$t" "$max" gtest "$tests/$t" --gtest_output="xml:$work/xml/$t.xml"
    else
      printf '%-22s %-12s %7s  %s\n' "$t" MISSING 0 "no $tests/$t" >>"$summary"
      failed=$((failed + 1))
    fi
  done
fi
for tool in memcheck racecheck; do
  wanted "$tool" || continue
  if [ -z "$sanitizer" ]; then
    skip_step "$tool" "compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
  elif [ ! -x "$tests/cuda_forward_test" ]; then
    skip_step "$tool" "no cuda_forward_test"
  else
    run_step "$tool" 120 sanitizer "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 50 \
      "$tests/cuda_forward_test" --gtest_filter="$sanitizer_filter" \
      --gtest_output="xml:$work/xml/cuda_forward_test-$tool.xml"
  fi
done
if wanted run; then
  # shellcheck disable=SC2086  # GPU_CHECK_RUN_ARGS is a list of words
  run_step aiscore-run-v1 420 run "$aiscore" run --suite v1 --backend cuda \
    --json "$out/result.json" ${GPU_CHECK_RUN_ARGS:-}
fi

tar -czf "$out/gtest-xml.tar.gz" -C "$work" xml 2>>"$log"
{
  echo
  if [ "$failed" -eq 0 ]; then
    echo "overall: ok ($((SECONDS - start))s)"
  else
    echo "overall: FAILED, $failed step(s) ($((SECONDS - start))s); details in gpu-check.log"
  fi
} >>"$summary"
cat "$summary"
[ "$failed" -eq 0 ]
