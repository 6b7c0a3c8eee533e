#!/usr/bin/env bash
# On the GPU machine: build the CUDA kernel tests and cortex-bench, run the kernel tests,
# the gpu-kernels benchmark section and compute-sanitizer memcheck on the row and index
# kernels; logs go to $OUT (default ./out). Usage: bash bench/gpu_kernels_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
tests="cuda unary kernel*,cuda binary kernel*,cuda where kernel*,cuda element-wise kernels*,cuda reduce kernel*"
tests+=",cuda argmax kernel*,cuda softmax kernels*,cuda rms_norm kernels*,cuda layer_norm kernels*"
tests+=",cuda index_select kernel*,cuda gather kernel*,cuda index_add kernel*,cuda scatter_add kernel*"
tests+=",cuda adamw kernel*,cuda dropout*"
source scripts/device_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/card.txt"

t0=$SECONDS
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCORTEX_CUDA=ON -DCORTEX_CUDA_ARCH=90a > "$OUT/build.log" 2>&1 &&
  cmake --build build-gpu -j16 --target test_cuda >> "$OUT/build.log" 2>&1
rc=$?
echo "build test_cuda rc=$rc in $((SECONDS - t0)) s"
if [ $rc -ne 0 ]; then grep -E "error|Error" "$OUT/build.log" | head -30; exit 1; fi

t0=$SECONDS
timeout "${TEST_SECONDS:-170}" build-gpu/bin/test_cuda --no-intro --force-colors=0 -tc="$tests" > "$OUT/tests.log" 2>&1
echo "kernel tests rc=$? in $((SECONDS - t0)) s"
grep -E "^\S.*(ERROR|FAILED)|test cases:|assertions:|Status" "$OUT/tests.log" | head -40

t0=$SECONDS
cmake --build build-gpu -j16 --target cortex-bench >> "$OUT/build.log" 2>&1 &&
  timeout "${BENCH_SECONDS:-100}" build-gpu/bin/cortex-bench --section gpu-kernels --min-seconds "${MIN_SECONDS:-0.1}" \
    > "$OUT/bench_gpu_kernels.md" 2>&1
echo "cortex-bench gpu-kernels rc=$? in $((SECONDS - t0)) s"

if [ -n "${SANITIZE:-}" ]; then
  t0=$SECONDS
  timeout "$SANITIZE" compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/bin/test_cuda --no-intro \
    --force-colors=0 -tc="cuda softmax kernels*,cuda rms_norm*,cuda layer_norm*,cuda index*,cuda gather*,cuda scatter*,cuda adamw*,cuda element-wise*" \
    > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$? in $((SECONDS - t0)) s"
  grep -E "ERROR SUMMARY|Invalid|test cases" "$OUT/memcheck.log" | head -20
fi
cat "$OUT/bench_gpu_kernels.md"
