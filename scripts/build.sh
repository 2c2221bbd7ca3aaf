#!/usr/bin/env bash
# Configures and builds aiscore into ./build (Release with debug info).
# Extra arguments go to cmake's configure step, e.g. -DAISCORE_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j"$(nproc)"
