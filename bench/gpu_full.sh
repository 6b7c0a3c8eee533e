#!/usr/bin/env bash
# On the GPU machine, one call: build everything with CUDA (sm_90a), run the whole test suite
# (GPU cases included), the GPU benchmark sections, the Cortex-S training-step benchmark and a
# short serving sweep with Cortex-S on the GPU. Logs and tables go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
source scripts/device_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/card.txt"
t0=$SECONDS
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCORTEX_CUDA=ON -DCORTEX_CUDA_ARCH=90a > "$OUT/build.log" 2>&1 &&
  cmake --build build-gpu -j16 >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $((SECONDS - t0)) s; warnings: $(grep -c 'warning' "$OUT/build.log")"
[ $rc -eq 0 ] || { grep -E "error" "$OUT/build.log" | head -30; exit 1; }

t0=$SECONDS
(cd build-gpu && timeout 200 ctest --output-on-failure -j 4 > "$OUT/ctest.log" 2>&1)
echo "ctest rc=$? in $((SECONDS - t0)) s"
grep -E "tests passed|Failed|\*\*\*" "$OUT/ctest.log" | head -20
timeout 60 build-gpu/bin/test_cuda --no-intro --force-colors=0 > "$OUT/test_cuda.log" 2>&1
echo "test_cuda: $(grep -E 'test cases' "$OUT/test_cuda.log")"
grep -E "ERROR|FAILED" "$OUT/test_cuda.log" | head -10
timeout 60 build-gpu/bin/test_nn --no-intro --force-colors=0 -ts=gpu > "$OUT/test_nn_gpu.log" 2>&1
echo "test_nn gpu suite: $(grep -E 'test cases' "$OUT/test_nn_gpu.log")"

t0=$SECONDS
timeout 90 build-gpu/bin/cortex-bench --section gpu-kernels --min-seconds 0.1 > "$OUT/bench_kernels.md" 2>&1
echo "bench kernels rc=$? in $((SECONDS - t0)) s"
timeout 60 build-gpu/bin/cortex-train bench-step --config configs/cortex-s.yaml --batch 64 --events 512 --device cuda \
  --dtype bf16 --steps 30 > "$OUT/bench_step.txt" 2>&1
timeout 60 build-gpu/bin/cortex-train bench-step --config configs/cortex-s.yaml --batch 64 --events 512 --device cuda \
  --dtype f32 --steps 20 >> "$OUT/bench_step.txt" 2>&1
echo "bench-step:"; tail -4 "$OUT/bench_step.txt"

if [ -z "${SKIP_SERVE:-}" ]; then
  mkdir -p "$OUT/serve"
  t0=$SECONDS
  CORTEX_DEVICE=cuda:0 RATES="${RATES:-100 400 1600}" SAME_LOAD_RATES="${SAME_LOAD_RATES:-400}" DURATION=8 STREAMS="8" \
    SLO_MS=10 DEADLINE_MS=50 TMPDIR="$OUT/serve" timeout 170 bash bench/serve_sweep.sh build-gpu --init cortex-s \
    > "$OUT/serving_gpu.md" 2>&1
  echo "serve sweep rc=$? in $((SECONDS - t0)) s"
  tail -5 "$OUT"/serve/*/*.log 2>/dev/null | tail -20
  tar czf "$OUT/serve_logs.tgz" -C "$OUT" serve && rm -rf "$OUT/serve"
  cat "$OUT/serving_gpu.md" | tail -30
fi
