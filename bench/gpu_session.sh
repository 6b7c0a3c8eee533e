#!/usr/bin/env bash
# One device call over a build packed here (scripts/pack_gpu_build.sh): the GPU test suite,
# compute-sanitizer over the newest kernels, decoding parts under MPS, then the benchmarks
# alone on the card (kernels, fused attention, Cortex-S training step, serving sweep).
#   carry: .deb .gpu .data      run from the repository root on the device machine
# Settings: DECODE ("MODEL PROTOCOLS" for bench/decoding_gpu.sh; empty: none), DECODE_PLAN (a plan
# file for bench/decoding_plan.sh), DECODE_S (seconds for the decoding part),
# SANITIZE_FILTER (doctest -tc filter for compute-sanitizer), SWEEP_S (seconds per sweep), SWEEP_WORKERS
# ("1 2": one sweep per --workers value), SERVE_DTYPE (f32 | bf16), PROBE_VARIANTS (a variants file for
# bench/serve_probe.sh, run after the sweeps at PROBE_RATES, default "10000 12000", with PROBE_PIN="0-7 8-15"
# also pinned: server CPUs, then the load generator's);
# TESTS=0 skips the tests and the sanitizer, KERNEL_BENCH=0 the kernel and attention benchmarks.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p "${OUT:-out}"
OUT=$(realpath "${OUT:-out}")
export OUT
source scripts/device_env.sh > /dev/null && source scripts/unpack_gpu_build.sh || exit 1
export CORTEX_DATA_DIR=$PWD/.data/mc_maze_small
B="$PWD/build-packed/bin"
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/card.txt"
stamp() { echo "[$((SECONDS))s] $*"; }

if [ "${TESTS:-1}" = 1 ]; then
stamp "tests and sanitizer"
( timeout "${TESTS_S:-300}" "$B/test_cuda" > "$OUT/tests.log" 2>&1; echo "test_cuda rc=$?" >> "$OUT/tests.log"
  for t in test_nn test_ops test_serve; do
    timeout 120 "$B/$t" -ts=gpu >> "$OUT/tests.log" 2>&1; echo "$t gpu rc=$?" >> "$OUT/tests.log"
  done ) &
tests=$!
timeout "${SANITIZE_S:-150}" "$CS" --tool memcheck --report-api-errors no --print-limit 20 "$B/test_cuda" \
  -tc="${SANITIZE_FILTER:-cuda segmented*,cuda softmax*,cuda rms_norm*,cuda layer_norm*,cuda row kernels*}" \
  > "$OUT/sanitizer.log" 2>&1
echo "memcheck rc=$?" >> "$OUT/sanitizer.log"
wait $tests
fi

stamp "benchmarks"
"$B/cortex-bench" --section gpu-decode --min-seconds 0.3 > "$OUT/decode_bench.txt" 2>&1
echo "gpu-decode rc=$?" >> "$OUT/decode_bench.txt"
# Where a Cortex-S training step spends its time (each kernel timed alone, so slower overall).
CORTEX_PROFILE=1 "$B/cortex-train" bench-step --config configs/cortex-s.yaml --batch 64 --events 512 --device cuda \
  --dtype bf16 --steps 3 --warmup 2 > "$OUT/step_profile.txt" 2>&1
if [ "${KERNEL_BENCH:-1}" = 1 ]; then
  "$B/cortex-bench" --section gpu-attention --min-seconds 0.2 > "$OUT/bench.txt" 2>&1
  "$B/cortex-bench" --section gpu-kernels --min-seconds 0.1 >> "$OUT/bench.txt" 2>&1
fi
for dt in bf16 f32; do
  "$B/cortex-train" bench-step --config configs/cortex-s.yaml --batch 64 --events 512 --device cuda --dtype $dt --steps 30 \
    >> "$OUT/bench.txt" 2>&1
done
# One sweep per entry of SWEEP_WORKERS (the EDF server's --workers), each into serving_gpu_w<N>.md.
for w in ${SWEEP_WORKERS:-1}; do
  stamp "serving sweep, $w worker(s)"
  mkdir -p "$OUT/serve"
  CORTEX_DEVICE=cuda:0 WORKERS=$w RATES="${RATES:-1000 4000 10000}" SAME_LOAD_RATES="${SAME_LOAD_RATES:-1000}" \
    DURATION=${DURATION:-5} STREAMS="${STREAMS:-16}" SLO_MS=10 DEADLINE_MS=50 TMPDIR="$OUT/serve" timeout "${SWEEP_S:-120}" \
    bash bench/serve_sweep.sh build-packed --init cortex-s --dtype "${SERVE_DTYPE:-f32}" > "$OUT/serving_gpu_w$w.md" 2>&1
  echo "serve sweep rc=$?" >> "$OUT/serving_gpu_w$w.md"
  rm -rf "$OUT/serve"
done

if [ -n "${PROBE_VARIANTS:-}" ]; then
  stamp "serving probe: $PROBE_VARIANTS"
  CORTEX_DEVICE=cuda:0 LOADGEN="$B/cortex-loadgen" RATES="${PROBE_RATES:-10000 12000}" DURATION=${DURATION:-5} \
    timeout "${PROBE_S:-200}" bash bench/serve_probe.sh "$PROBE_VARIANTS" --init cortex-s --dtype "${SERVE_DTYPE:-f32}" \
    > "$OUT/serve_probe.md" 2>&1
  if [ -n "${PROBE_PIN:-}" ]; then
    read -r server_cpus loadgen_cpus <<< "$PROBE_PIN"
    CORTEX_DEVICE=cuda:0 LOADGEN="$B/cortex-loadgen" RATES="${PROBE_RATES:-10000 12000}" DURATION=${DURATION:-5} \
      SERVER_CPUS=$server_cpus LOADGEN_CPUS=$loadgen_cpus timeout "${PROBE_S:-200}" bash bench/serve_probe.sh \
      "$PROBE_VARIANTS" --init cortex-s --dtype "${SERVE_DTYPE:-f32}" >> "$OUT/serve_probe.md" 2>&1
  fi
fi

# Decoding last: its parts share the card under MPS, which would skew the timings above.
if [ -n "${DECODE:-}" ]; then
  stamp "decoding: $DECODE"
  BIN="$B/cortex-train" MPS=1 LIMIT_S=${DECODE_S:-200} MAX_JOBS=${MAX_JOBS:-15} \
    bash bench/decoding_gpu.sh protocol $DECODE > "$OUT/decoding.txt" 2>&1
fi
if [ -n "${DECODE_PLAN:-}" ]; then
  stamp "decoding plan: $DECODE_PLAN"
  BIN="$B/cortex-train" LIMIT_S=${DECODE_S:-200} bash bench/decoding_plan.sh "$DECODE_PLAN" > "$OUT/decoding.txt" 2>&1
fi
stamp "done"

echo "== summary"
grep -hE "test cases|rc=" "$OUT/tests.log" 2> /dev/null
grep -hE "ERROR SUMMARY|rc=" "$OUT/sanitizer.log" 2> /dev/null
[ -f "$OUT/decoding.txt" ] && grep -hE "R\^2|FAILED|no time|results:" "$OUT/decoding.txt" | grep -v "^|"
grep -hiE "ms/step|samples/s|fused|loop" "$OUT/bench.txt" 2> /dev/null | head -20
grep -hE "^\| (f32|bf16) " "$OUT/decode_bench.txt"
for f in "$OUT"/serving_gpu_w*.md; do echo "== $(basename "$f")"; tail -25 "$f"; done
[ -f "$OUT/serve_probe.md" ] && { echo "== serve_probe.md"; grep -E "^\||CPUs" "$OUT/serve_probe.md"; }
# Exit status: non-zero when a test binary, the sanitizer or the sweep reported a failure.
! grep -hqsE "rc=[1-9]" "$OUT/tests.log" "$OUT/sanitizer.log" "$OUT"/serving_gpu_w*.md "$OUT/decode_bench.txt"
