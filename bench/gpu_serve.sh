#!/usr/bin/env bash
# On the GPU machine: build the server and load generator with CUDA, run the serve tests and a
# short serving sweep of Cortex-S on cuda:0 (EDF scheduler vs naive, latency vs offered load).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT/serve"
OUT=$(realpath "$OUT")
source scripts/device_env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/card.txt"
t0=$SECONDS
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCORTEX_CUDA=ON -DCORTEX_CUDA_ARCH=90a > "$OUT/build.log" 2>&1 &&
  cmake --build build-gpu -j16 --target cortex-serve cortex-loadgen >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $((SECONDS - t0)) s"
[ $rc -eq 0 ] || { grep -E "error|Error|prometheus" "$OUT/build.log" | head -30; exit 1; }
t0=$SECONDS
CORTEX_DEVICE=cuda:0 RATES="${RATES:-200 1000 4000}" SAME_LOAD_RATES="${SAME_LOAD_RATES:-1000}" DURATION=${DURATION:-6} \
  STREAMS="${STREAMS:-16}" SLO_MS=10 DEADLINE_MS=50 TMPDIR="$OUT/serve" timeout "${SWEEP_S:-150}" \
  bash bench/serve_sweep.sh build-gpu --init cortex-s > "$OUT/serving_gpu.md" 2>&1
echo "serve sweep rc=$? in $((SECONDS - t0)) s"
cat "$OUT/serving_gpu.md"
tail -3 "$OUT"/serve/*/*.log 2>/dev/null | tail -12
tar czf "$OUT/serve_logs.tgz" -C "$OUT" serve && rm -rf "$OUT/serve"
