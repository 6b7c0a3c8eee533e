#!/usr/bin/env bash
# The main job, end to end on the embedded synthetic data (no download): install what is
# missing, build, train Cortex-XS briefly, serve the checkpoint, offer it load with
# cortex-loadgen over loopback and print the figures. Tunables (environment):
#   CORTEX_MAIN_STEPS (fine-tuning steps, default 20), CORTEX_MAIN_PRETRAIN (default 5),
#   CORTEX_MAIN_DEVICE (cpu or cuda, default cpu), CORTEX_MAIN_PORT (default 0 = any free port).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

run_dir=runs/main
steps=${CORTEX_MAIN_STEPS:-20}
pretrain=${CORTEX_MAIN_PRETRAIN:-5}
device=${CORTEX_MAIN_DEVICE:-cpu}
rm -rf "$run_dir"
mkdir -p "$run_dir"

echo "== train Cortex-XS on the synthetic default ($pretrain pre-training + $steps fine-tuning steps, $device)"
build/bin/cortex-train --config configs/cortex-xs.yaml data=synthetic device="$device" \
  pretrain.steps="$pretrain" train.steps="$steps" train.batch_size=8 train.checkpoint_every="$((pretrain + steps))" \
  run.dir="$run_dir" | tee "$run_dir/train.log"
checkpoint=$(ls -1 "$run_dir"/cortex-xs/checkpoints/step_*.safetensors | grep -v trainer | tail -1)
[ -f "$checkpoint" ] || { echo "main: no checkpoint was written" >&2; exit 1; }

echo "== serve $checkpoint"
build/bin/cortex-serve --model "$checkpoint" --device "$device" --port "${CORTEX_MAIN_PORT:-0}" \
  --deadline-ms 5000 > "$run_dir/serve.out" 2> "$run_dir/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$run_dir/serve.out" | head -1)
  [ -n "$port" ] && break
  kill -0 $server 2>/dev/null || { cat "$run_dir/serve.log" >&2; echo "main: the server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "main: the server did not report its port" >&2; exit 1; }
echo "server on 127.0.0.1:$port"

echo "== load: closed loop over HTTP, then one WebSocket stream"
build/bin/cortex-loadgen --port "$port" --mode closed --concurrency 4 --duration 10 --warmup 2 --slo-ms 2000 \
  | tee "$run_dir/load_http.txt"
build/bin/cortex-loadgen --port "$port" --mode stream --streams 1 --duration 5 --warmup 1 --slo-ms 2000 \
  | tee "$run_dir/load_stream.txt"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^cortex_(requests_total|deadline_misses_total|cache_hit_rate|cache_pages|batch_size_(sum|count))" | head -20 || true

echo "== drain"
kill -TERM $server
wait $server && echo "server drained and exited 0"
trap - EXIT
