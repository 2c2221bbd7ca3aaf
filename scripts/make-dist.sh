#!/usr/bin/env bash
# Builds a relocatable aiscore tree, ./dist (docs/install.md), to carry to a
# machine that has no build dependencies (a GPU machine with only the CUDA
# toolkit):
#   dist/bin/aiscore, dist/bin/aiscore-collector
#   dist/lib/                      the shared libraries they need (gRPC, protobuf,
#                                  absl, sodium, sqlite, OpenSSL, ...), not glibc's,
#                                  libstdc++, the driver's or the CUDA toolkit's
#   dist/libexec/aiscore/tests/    the CUDA tests (install component gputests),
#                                  run there by scripts/gpu-check.sh
# It configures its own build directory (Release, tests on, benchmarks off),
# builds only what the install needs, installs both components (stripped)
# and prints the tree's size, which should stay under 50 MiB.
#
# Environment: AISCORE_DIST_BUILD (build directory, default build-dist),
# AISCORE_DIST (install prefix, default dist), AISCORE_CUDA_ARCHITECTURES
# (default 90: Hopper, H100/H200; e.g. "80;90"), AISCORE_JOBS (default: all
# CPUs). Extra arguments go to cmake's configure step, e.g. -DAISCORE_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${AISCORE_DIST_BUILD:-build-dist}"
dist="${AISCORE_DIST:-dist}"
archs="${AISCORE_CUDA_ARCHITECTURES:-90}"
jobs="${AISCORE_JOBS:-$(nproc)}"

generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build/CMakeCache.txt" ]; then
  generator=(-G Ninja)
fi
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$archs" -DAISCORE_BUILD_TESTS=ON -DAISCORE_BUILD_BENCHMARKS=OFF "$@"
# aiscore_install_targets (cmake/install.cmake): the programs and the CUDA tests.
cmake --build "$build" --target aiscore_install_targets -j"$jobs"

rm -rf "$dist"
cmake --install "$build" --prefix "$dist" --strip
cmake --install "$build" --prefix "$dist" --strip --component gputests

bytes=$(du -sb "$dist" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "make-dist: $dist is $mib MiB ($(find "$dist" -type f | wc -l) files):"
du -sh "$dist"/bin "$dist"/lib "$dist"/libexec 2>/dev/null | sed 's/^/  /'
if [ "$mib" -gt 50 ]; then
  echo "make-dist: warning: over 50 MiB; the GPU machine takes 64 MiB with the repository" >&2
fi
