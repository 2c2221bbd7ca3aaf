#!/usr/bin/env bash
# The main job on this machine: install, build, then measure the basket's
# 7B model (synthetic weights, Q4_K) on the local CPU: prefill and decode.
# The suite runner, signing and the collector arrive with their issues.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec build/agent/cli/aiscore bench --model target-7b --format q4_k -p 64 -n 16 -r 2 "$@"
