#!/usr/bin/env bash
# On the GPU machine: build the CUDA runtime's tests and the gpu benchmark section, run them,
# the PyTorch yardstick and compute-sanitizer, and leave the logs in $OUT (default ./out).
# Usage: bash bench/gpu_runtime_check.sh [doctest test-case filter]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
filter=${1:-"cuda runtime*,allocator*,cuda copy*,cuda upload*,cuda fill*,cuda random*,cuda matmul*,cuda gemm*,cuda graph*"}
source scripts/device_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/card.txt"
t0=$SECONDS
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCORTEX_CUDA=ON -DCORTEX_CUDA_ARCH=90a > "$OUT/build.log" 2>&1 &&
  cmake --build build-gpu -j16 --target test_cuda cortex-bench >> "$OUT/build.log" 2>&1
build_rc=$?
echo "build rc=$build_rc in $((SECONDS - t0)) s; warnings: $(grep -c 'warning' "$OUT/build.log")"
if [ $build_rc -ne 0 ]; then grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; fi

t0=$SECONDS
timeout 240 build-gpu/bin/test_cuda --no-intro --force-colors=0 -tc="$filter" > "$OUT/test_cuda.log" 2>&1
echo "test_cuda rc=$? in $((SECONDS - t0)) s"
grep -E "ERROR|FAILED|CHECK|REQUIRE|test cases|assertions|Status" "$OUT/test_cuda.log" | head -60

t0=$SECONDS
timeout 100 build-gpu/bin/cortex-bench --section gpu --min-seconds "${MIN_SECONDS:-0.25}" > "$OUT/bench_gpu.md" 2>&1
echo "cortex-bench rc=$? in $((SECONDS - t0)) s"
t0=$SECONDS
PYTHONUNBUFFERED=1 timeout 100 python3 bench/pytorch_reference.py --min-seconds "${MIN_SECONDS:-0.25}" > "$OUT/pytorch.md" 2>&1
echo "pytorch rc=$? in $((SECONDS - t0)) s"

# The whole CUDA suite (the kernels' tests too), for information.
timeout 120 build-gpu/bin/test_cuda --no-intro --force-colors=0 > "$OUT/test_cuda_all.log" 2>&1
echo "test_cuda (all) rc=$?: $(grep -E 'test cases' "$OUT/test_cuda_all.log")"

if [ -n "${SANITIZE:-}" ]; then
  t0=$SECONDS
  timeout "${SANITIZE}" compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/bin/test_cuda --no-intro \
    --force-colors=0 -tc="$filter" \
    -tce="*synchronising*,*record_stream keeps*,*out of memory*,*CORTEX_CUDA_CHECK*" \
    > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$? in $((SECONDS - t0)) s"
  tail -5 "$OUT/memcheck.log"
fi
cat "$OUT/bench_gpu.md" "$OUT/pytorch.md"
