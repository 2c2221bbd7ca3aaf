#!/usr/bin/env bash
# The main job on this machine: install, build, then run the benchmark suite
# (default v1, the leaderboard basket: the 7B model at F16, Q8_0, Q4_K, Q2_K)
# on the local accelerator, print the table and the local score, and save the
# signed result under $XDG_DATA_HOME/aiscore/runs. On the 2-core development
# machine v1 takes about two hours (chat 12 minutes for all four formats; each
# long case's 8192-token prefill 15 to 30 minutes, attention-bound on a CPU);
# AISCORE_SUITE=quick runs the tiny suite in seconds, and --workload chat runs
# only the chat cases.
# Extra arguments go to `aiscore run` (e.g. --format q4_k, --submit HOST:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build/agent/cli/aiscore info
exec build/agent/cli/aiscore run --suite "${AISCORE_SUITE:-v1}" "$@"
