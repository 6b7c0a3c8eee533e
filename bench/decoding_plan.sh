#!/usr/bin/env bash
# Several decoding runs at once on the one GPU, under one CUDA MPS daemon: recipe probes and
# full protocols side by side in a single device call. Each line of the plan file is
#   LABEL|MODEL|PROTOCOLS|SEED_LIST|FOLD_LIST|MAX_JOBS|EXTRA[|GPUS]
# and becomes one bench/decoding_gpu.sh invocation (its parts MAX_JOBS at a time), writing
# $OUT/decoding-LABEL.jsonl. Empty SEED_LIST / FOLD_LIST mean all seeds / all folds; lines
# starting with # are skipped. GPUS (optional, default the GPUS environment variable) lists the cards
# for that line's parts, fewest running parts first, ties to the earlier card: give concurrent lines
# different card orders, or every line piles its extra parts onto the first cards. Everything stops LIMIT_S seconds after the start.
#   BIN=... CORTEX_DATA_DIR=... LIMIT_S=500 bash bench/decoding_plan.sh bench/plans/call1.plan
set -uo pipefail
cd "$(dirname "$0")/.."
plan=${1:?plan file}
[ -f "$plan" ] || { echo "no plan file $plan"; exit 2; }
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
source scripts/device_env.sh > /dev/null
if command -v nvidia-cuda-mps-control > /dev/null && nvidia-cuda-mps-control -d 2> /dev/null; then
  echo "MPS daemon started"
  trap 'echo quit | nvidia-cuda-mps-control' EXIT  # later timings must not run under it
fi
pids=()
while IFS='|' read -r label model protocols seeds folds jobs extra gpus; do
  case "$label" in ''|'#'*) continue ;; esac
  echo "start $label: $model $protocols seeds=[${seeds:-all}] folds=[${folds:-all}] jobs=$jobs gpus=[${gpus:-${GPUS:-}}] $extra"
  GPUS=${gpus:-${GPUS:-}} LABEL=$label SEED_LIST=$seeds FOLD_LIST=$folds MAX_JOBS=$jobs EXTRA=$extra MPS=0 \
    bash bench/decoding_gpu.sh protocol "$model" $protocols > "$OUT/plan-$label.txt" 2>&1 &
  pids+=($!)
done < "$plan"
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
for f in "$OUT"/plan-*.txt; do
  echo "== $(basename "$f" .txt)"
  grep -hE "FAILED|no time|results:" "$f"
done
exit $failed
