#!/usr/bin/env bash
# Server configurations side by side at a few offered loads, each on a fresh server, with the
# server's own latency, queue-wait and compute histograms per point: where a tail comes from
# (slow batches, or requests waiting behind them), and each server thread's CPU share and
# preemptions. For tuning; bench/serve_sweep.sh is the full sweep.
#   bash bench/serve_probe.sh VARIANTS_FILE [model flag...]
# Each line of VARIANTS_FILE is NAME|BIN_DIR|LIB_DIR|SERVER FLAGS (LIB_DIR prepended to
# LD_LIBRARY_PATH for that server; empty: none); # lines skipped. Settings: RATES, DURATION,
# WARMUP (seconds of load before the server's histograms are first read, default 2), EVENTS, CONNECTIONS, ENCODING, DEADLINE_MS, SLO_MS, LOADGEN (the cortex-loadgen binary),
# SERVER_CPUS / LOADGEN_CPUS (taskset CPU lists, e.g. 0-7 and 8-15: keeps the load generator's
# threads off the server's cores; empty: no pinning).
set -uo pipefail
cd "$(dirname "$0")/.."
variants=${1:?variants file}
shift
model=("$@")
[ ${#model[@]} -eq 0 ] && model=(--init cortex-xs)
RATES=${RATES:-"8000 10000 12000"}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
EVENTS=${EVENTS:-256}
CONNECTIONS=${CONNECTIONS:-256}
ENCODING=${ENCODING:-binary}
DEADLINE_MS=${DEADLINE_MS:-50}
SLO_MS=${SLO_MS:-10}
LOADGEN=${LOADGEN:-build-packed/bin/cortex-loadgen}
server_pin=() loadgen_pin=()
[ -n "${SERVER_CPUS:-}" ] && server_pin=(taskset -c "$SERVER_CPUS")
[ -n "${LOADGEN_CPUS:-}" ] && loadgen_pin=(taskset -c "$LOADGEN_CPUS")
out=$(mktemp -d)
# Each server thread's name, CPU ticks (user + system) and involuntary context switches (times
# the scheduler took the CPU away from it), at the time of the call; the clock is `date +%s.%N`.
# Names: cortex-worker<i>, cortex-io<i>, cortex-serve (main, also I/O); threads a role starts
# (OpenMP's) inherit its name; "exe" ones predate main (OpenBLAS's pool, on a CPU server).
thread_times() {
  echo "clock $(date +%s.%N)"
  for task in /proc/"$1"/task/*; do
    local name ticks switches
    name=$(cat "$task/comm" 2> /dev/null) || continue
    ticks=$(sed 's/^.*) //' "$task/stat" 2> /dev/null | awk '{print $12 + $13}')
    switches=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status" 2> /dev/null)
    echo "$name ${ticks:-0} ${switches:-0}"
  done
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
  "server CPUs: ${SERVER_CPUS:-any}, load generator CPUs: ${LOADGEN_CPUS:-any}" >&2
while IFS='|' read -r name bindir libdir flags; do
  case "$name" in ''|'#'*) continue ;; esac
  log="$out/$name.log"
  # shellcheck disable=SC2086
  LD_LIBRARY_PATH="${libdir:+$libdir:}${LD_LIBRARY_PATH:-}" setsid "${server_pin[@]}" "$bindir/cortex-serve" "${model[@]}" --port 0 \
    --deadline-ms "$DEADLINE_MS" --queue-capacity 1024 $flags > "$out/$name.out" 2> "$log" < /dev/null &
  pid=$!
  for _ in $(seq 600); do grep -q '"event":"ready"' "$log" 2>/dev/null && break; sleep 0.2; done
  port=$(grep -o '[0-9]*$' "$out/$name.out")
  echo "$name: $flags (port $port, ready after $(grep -c cuda_graph_captured "$log") captures)" >&2
  for r in $RATES; do
    # The server's histograms are read once the load generator's warm-up is over and again at its end.
    "${loadgen_pin[@]}" "$LOADGEN" --port "$port" --duration "$DURATION" --warmup "$WARMUP" --events "$EVENTS" \
      --slo-ms "$SLO_MS" --label "$name" --json --mode open --rate "$r" --connections "$CONNECTIONS" \
      --encoding "$ENCODING" 2>/dev/null | tail -1 > "$out/$name-$r.json" &
    loadgen=$!
    sleep "$WARMUP"
    curl -s "http://127.0.0.1:$port/metrics" > "$out/$name-$r.before"
    thread_times "$pid" > "$out/$name-$r.threads.before"
    wait "$loadgen"
    thread_times "$pid" > "$out/$name-$r.threads.after"
    curl -s "http://127.0.0.1:$port/metrics" > "$out/$name-$r.after"
  done
  kill -TERM "$pid"; wait "$pid"
  echo "  captures after ready: $(sed -n '/"event":"ready"/,$p' "$log" | grep -c cuda_graph_captured)," \
    "warnings: $(grep -c '"level":"warn"' "$log")" >&2
done < "$variants"
python3 - "$out" "$variants" "$RATES" "$(getconf CLK_TCK)" <<'PY'
import json, os, re, sys
from collections import defaultdict
out, variants, rates, tck = sys.argv[1], sys.argv[2], sys.argv[3].split(), float(sys.argv[4])
def points():
    """(variant, rate, path prefix of its files) for every point, in the variants file's order."""
    for line in open(variants):
        name = line.split("|")[0]
        if not name or name.startswith("#"): continue
        for r in rates: yield name, r, os.path.join(out, f"{name}-{r}")
def hist(path, name):
    """Cumulative bucket counts of one histogram, every label set summed."""
    b = {}
    for line in open(path):
        m = re.match(rf'{name}_bucket{{.*le="([^"]+)".*}} (\S+)', line)
        if m: b[m.group(1)] = b.get(m.group(1), 0.0) + float(m.group(2))
    return b
def over(before, after, name, le):
    a, b = hist(after, name), hist(before, name)
    total = a.get("+Inf", 0) - b.get("+Inf", 0)
    within = a.get(le, 0) - b.get(le, 0)
    return (100 * (1 - within / total) if total else float("nan")), total
def total(path, key):
    return sum(float(l.split()[-1]) for l in open(path) if l.startswith(key))
def threads(path):
    """The clock and, per role (trailing digits dropped), CPU ticks, involuntary switches, thread count."""
    clock, roles = 0.0, defaultdict(lambda: [0.0, 0.0, 0])
    for line in open(path):
        f = line.split()
        if f[0] == "clock": clock = float(f[1]); continue
        t = roles[re.sub(r"\d+$", "", f[0])]; t[0] += float(f[1]); t[1] += float(f[2]); t[2] += 1
    return clock, roles

print("| variant | offered/s | p50 ms | p99 ms | p99.9 ms | client send lag p99 ms | requests > 10 ms (server) | queue wait > 5 ms | batches > 5 ms | batches > 10 ms | batches | mean batch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, r, p in points():
    try: j = json.loads(open(p + ".json").read())
    except Exception: print(f"| {name} | {r} | no result ||||||||||"); continue
    req, _ = over(p + ".before", p + ".after", "cortex_request_latency_seconds", "0.01")
    qw, _ = over(p + ".before", p + ".after", "cortex_queue_wait_seconds", "0.005")
    c5, nb = over(p + ".before", p + ".after", "cortex_compute_seconds", "0.005")
    c10, _ = over(p + ".before", p + ".after", "cortex_compute_seconds", "0.01")
    bs = total(p + ".after", "cortex_batch_size_sum") - total(p + ".before", "cortex_batch_size_sum")
    print(f"| {name} | {r} | {j['p50_ms']:.1f} | {j['p99_ms']:.1f} | {j['p999_ms']:.1f} | "
          f"{j.get('send_lag_p99_ms', float('nan')):.2f} | {req:.2f}% | {qw:.2f}% | "
          f"{c5:.2f}% | {c10:.2f}% | {nb:.0f} | {bs / nb if nb else 0:.1f} |")

print("\nServer threads over the measured seconds (CPU % of one core, involuntary context switches per second):\n")
print("| variant | offered/s | thread (count) | CPU % | preemptions/s |")
print("|---|---|---|---|---|")
for name, r, p in points():
    if not (os.path.exists(p + ".threads.before") and os.path.exists(p + ".threads.after")): continue
    (t0, a), (t1, b) = threads(p + ".threads.before"), threads(p + ".threads.after")
    span = max(t1 - t0, 1e-9)
    for role in sorted(b, key=lambda k: -(b[k][0] - a[k][0])):
        cpu = 100 * (b[role][0] - a[role][0]) / tck / span
        if cpu < 1: continue
        print(f"| {name} | {r} | {role} ({b[role][2]}) | {cpu:.0f} | {(b[role][1] - a[role][1]) / span:.0f} |")
PY
echo "raw: $out" >&2
