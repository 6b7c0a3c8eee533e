#!/usr/bin/env bash
# Serving benchmark on one host over loopback: the EDF scheduler against naive sequential
# inference (--max-batch 1 --no-batching) at the same offered load, latency against offered
# load up to saturation, and WebSocket streams. Prints markdown tables (bench/results/serving.md).
#
#   bash bench/serve_sweep.sh [build dir] [model flag...]
#   e.g. bash bench/serve_sweep.sh build --init cortex-xs
#        CORTEX_DEVICE=cuda:0 RATES="50 100 200 400 800" bash bench/serve_sweep.sh build-gpu --init cortex-xs
# Settings (environment): RATES (open-loop arrivals/s for the sweep), SAME_LOAD_RATES (for the
# naive comparison), DURATION (s per point), EVENTS (mean events per window), DEADLINE_MS,
# SLO_MS (goodput threshold), MAX_BATCH (empty: the server's default, 64 on a GPU and 32 on the CPU), STREAMS (counts of streams to try), WORKERS and
# IO_THREADS (the EDF server's --workers / --io-threads; empty: the server's defaults, 1
# worker and min(8, max(2, cores / 4)) I/O threads; the naive server always runs
# one worker), CONNECTIONS (open-loop client connections, default 256: at 10,000/s and ~10 ms
# per request ~100 are busy, so 64 would cap the offered load) and ENCODING (json|binary
# request encoding of the HTTP points, default json), CAPACITY_CONCURRENCY (requests in flight
# for the EDF server's closed-loop capacity point, default 64).
#   e.g. CORTEX_DEVICE=cuda:0 WORKERS=2 IO_THREADS=8 ENCODING=binary RATES="2000 4000 8000 10000" \
#          DEADLINE_MS=50 SLO_MS=10 MAX_BATCH=64 bash bench/serve_sweep.sh build-gpu --init cortex-s --dtype bf16
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
model=("$@")
[ ${#model[@]} -eq 0 ] && model=(--init cortex-xs)
bin="$build/bin"
out=$(mktemp -d)
RATES=${RATES:-"1 2 4 6 8 10 12"}
SAME_LOAD_RATES=${SAME_LOAD_RATES:-"2 4 6"}
DURATION=${DURATION:-20}
EVENTS=${EVENTS:-256}
DEADLINE_MS=${DEADLINE_MS:-5000}
SLO_MS=${SLO_MS:-1000}
MAX_BATCH=${MAX_BATCH:-}
STREAMS=${STREAMS:-"1 2"}
WORKERS=${WORKERS:-}
IO_THREADS=${IO_THREADS:-}
CONNECTIONS=${CONNECTIONS:-256}
ENCODING=${ENCODING:-json}
CAPACITY_CONCURRENCY=${CAPACITY_CONCURRENCY:-64}
case "$ENCODING" in json | binary) ;; *) echo "ENCODING must be json or binary, got '$ENCODING'" >&2; exit 2 ;; esac
edf_flags=()
if [ -n "$MAX_BATCH" ]; then edf_flags+=(--max-batch "$MAX_BATCH"); fi
if [ -n "$WORKERS" ]; then edf_flags+=(--workers "$WORKERS"); fi
if [ -n "$IO_THREADS" ]; then edf_flags+=(--io-threads "$IO_THREADS"); fi

# Both servers run side by side (the idle one costs nothing) and the load alternates between
# them point by point, so a change in the machine's background load hits both alike.
declare -A pids ports
start_server() {  # start_server NAME extra-flags...
  local name=$1
  shift
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$out/$name.pid" "$bin/cortex-serve" "${model[@]}" --port 0 \
    --deadline-ms "$DEADLINE_MS" --queue-capacity 1024 "$@" > "$out/$name.out" 2> "$out/$name.log" < /dev/null &
  for _ in $(seq 600); do grep -q '"event":"ready"' "$out/$name.log" 2>/dev/null && break; sleep 0.2; done
  pids[$name]=$(cat "$out/$name.pid")
  ports[$name]=$(grep -o '[0-9]*$' "$out/$name.out")
}
stop_server() { kill -TERM "${pids[$1]}"; while kill -0 "${pids[$1]}" 2>/dev/null; do sleep 0.1; done; }
# Totals of the EDF server's latency histograms (every label summed): request sum count, queue wait
# sum count, compute sum count, batch size sum count, requests within 10 ms. Differences across a
# point give its means and the server's own share of requests over 10 ms.
edf_totals() {
  curl -s "http://127.0.0.1:${ports[edf]}/metrics" | awk '
    /^cortex_request_latency_seconds_sum/ {v[1] += $NF} /^cortex_request_latency_seconds_count/ {v[2] += $NF}
    /^cortex_queue_wait_seconds_sum/ {v[3] += $NF} /^cortex_queue_wait_seconds_count/ {v[4] += $NF}
    /^cortex_compute_seconds_sum/ {v[5] += $NF} /^cortex_compute_seconds_count/ {v[6] += $NF}
    /^cortex_batch_size_sum/ {v[7] += $NF} /^cortex_batch_size_count/ {v[8] += $NF}
    /^cortex_request_latency_seconds_bucket/ && /le="0.01"/ {v[9] += $NF}
    END {for (i = 1; i <= 9; i++) printf "%s ", v[i] + 0; print ""}'
}
load() {  # load SERVER LABEL loadgen-flags...
  local server=$1 label=$2 before=""
  shift 2
  "$bin/cortex-loadgen" --port "${ports[$server]}" --duration "$DURATION" --warmup 3 --events "$EVENTS" \
    --slo-ms "$SLO_MS" --label "$label" --json "$@" 2>/dev/null | tail -1 >> "$out/results.jsonl" &
  local loadgen=$!
  # The EDF server's totals from the end of the load generator's 3 s warm-up to the end of its run.
  if [ "$server" = edf ]; then sleep 3; before=$(edf_totals); fi
  wait "$loadgen"
  if [ "$server" = edf ]; then echo "$label $*|$before|$(edf_totals)" >> "$out/breakdown.txt"; fi
  echo "  $label $* load=$(cut -d' ' -f1 /proc/loadavg)" >&2
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "edf server: ${edf_flags[*]:-(defaults)}; load: $CONNECTIONS open-loop connections, $ENCODING requests" >&2
start_server naive --max-batch 1 --no-batching --workers 1
start_server edf "${edf_flags[@]}"
load naive "naive capacity" --mode closed --concurrency 16 --encoding "$ENCODING"
load edf "edf capacity" --mode closed --concurrency "$CAPACITY_CONCURRENCY" --encoding "$ENCODING"
for r in $SAME_LOAD_RATES; do
  load naive naive --mode open --rate "$r" --connections "$CONNECTIONS" --encoding "$ENCODING"
  load edf edf --mode open --rate "$r" --connections "$CONNECTIONS" --encoding "$ENCODING"
done
for r in $RATES; do load edf edf --mode open --rate "$r" --connections "$CONNECTIONS" --encoding "$ENCODING"; done
for s in $STREAMS; do load edf "edf streams" --mode stream --streams "$s" --encoding binary; done
curl -s "http://127.0.0.1:${ports[edf]}/metrics" > "$out/edf.metrics" || true
stop_server naive
stop_server edf
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def err(r): return ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "-"
print("| server | mode | offered/s | throughput/s | goodput/s | p50 ms | p95 ms | p99 ms | p99.9 ms | client send lag p99 ms | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    mode = {"open": f"open, {r.get('rate', 0):g}/s", "closed": f"closed, {r.get('concurrency', 0)} in flight",
            "stream": f"{r.get('streams', 0)} streams"}[r["mode"]]
    print(f"| {r['label']} | {mode} | {r['offered_per_s']:.1f} | {r['throughput_per_s']:.2f} | {r['goodput_per_s']:.2f} | "
          f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | "
          f"{r.get('send_lag_p99_ms', float('nan')):.2f} | {err(r)} |")
PY
python3 - "$out/breakdown.txt" <<'PY'
import sys
print("\nWhere the EDF server's time went, per point (server-side means over the measured seconds):\n")
print("| point | requests | request ms (admission to reply) | over 10 ms (server side) | queue wait ms | batch compute ms | batch size |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    label, before, after = line.rstrip("\n").split("|")
    d = [float(a) - float(b) for a, b in zip(after.split(), before.split())]
    mean = lambda s, c: f"{1e3 * d[s] / d[c]:.2f}" if d[c] > 0 else "-"
    batch = f"{d[6] / d[7]:.1f}" if d[7] > 0 else "-"
    over = f"{100 * (1 - d[8] / d[1]):.2f}%" if d[1] > 0 else "-"
    print(f"| {label} | {d[1]:.0f} | {mean(0, 1)} | {over} | {mean(2, 3)} | {mean(4, 5)} | {batch} |")
PY
echo "batch sizes of the EDF server:" && grep -E "^cortex_batch_size_(sum|count)|^cortex_cache_hit_rate" "$out/edf.metrics" || true
echo "raw results: $out/results.jsonl" >&2
