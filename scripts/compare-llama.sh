#!/bin/bash
# Compares aiscore with llama.cpp's llama-bench on the same GGUF files, format
# by format, each test run by one engine and then the other in the same
# minutes (memory bandwidth on shared hosts moves from minute to minute):
# pp512, then tg128 after a 512-token prompt, 2 threads, 3 repetitions.
#
#   scripts/compare-llama.sh LLAMA_BENCH MODEL_DIR [FORMAT ...]
#
# MODEL_DIR holds target-7b-FORMAT.gguf (aiscore export-gguf --model target-7b
# --format FORMAT MODEL_DIR/target-7b-FORMAT.gguf); FORMATs default to
# q8_0 q4_k f16 q2_k. Environment: AISCORE (the aiscore binary, default
# build/agent/cli/aiscore), THREADS (2), DECODE_ONLY=1 to skip pp512, ISA
# (aiscore's kernels: avx2, avxvnni, avx512; default the best the CPU has),
# e.g. ISA=avx2 against a llama.cpp built with -DGGML_NATIVE=OFF -DGGML_AVX2=ON.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
llama_bench=$1
model_dir=$2
shift 2
formats=("$@")
[[ ${#formats[@]} -gt 0 ]] || formats=(q8_0 q4_k f16 q2_k)
aiscore=${AISCORE:-build/agent/cli/aiscore}
threads=${THREADS:-2}
isa_flag=()
[[ -z ${ISA:-} ]] || isa_flag=(--isa "$ISA")
for tool in "$aiscore" "$llama_bench"; do
  [[ -x $tool ]] || { echo "compare-llama.sh: $tool is not an executable" >&2; exit 2; }
done

for f in "${formats[@]}"; do
  model=$model_dir/target-7b-$f.gguf
  [[ -r $model ]] || { echo "compare-llama.sh: cannot read $model" >&2; exit 2; }
  echo "=== $f $(date -u +%H:%M:%S)"
  if [[ ${DECODE_ONLY:-0} != 1 ]]; then
    "$aiscore" bench --model "$model" "${isa_flag[@]}" -p 512 -n 0 -r 3 -t "$threads" | grep -E 'pp512'
    "$llama_bench" -m "$model" -t "$threads" -p 512 -n 0 -r 3 | grep -E 'pp512'
  fi
  "$aiscore" bench --model "$model" "${isa_flag[@]}" -p 0 -n 128 -d 512 -r 3 -t "$threads" |
    grep -E 'tg128|probe GB'
  "$llama_bench" -m "$model" -t "$threads" -p 0 -n 128 -d 512 -r 3 | grep -E 'tg128'
done
echo "=== done $(date -u +%H:%M:%S)"
