#!/usr/bin/env bash
# Installs aiscore's build and test dependencies from Debian's packages.
# Needs root (CI and these machines run as root); skips what is present.
set -euo pipefail
packages=(cmake ninja-build g++ git libabsl-dev libcli11-dev nlohmann-json3-dev libgtest-dev
          libgmock-dev libbenchmark-dev libprotobuf-dev protobuf-compiler libgrpc++-dev
          protobuf-compiler-grpc libsodium-dev pkg-config libsqlite3-dev
          libcpp-httplib-dev
          chromium chromium-driver  # the web pages' tests drive a real headless browser
          clang libclang-rt-14-dev)  # scripts/fuzz.sh: clang 14 and its libFuzzer runtime
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
