#!/bin/sh
# Wake-ups of an Erlang `py:func` call: the voluntary context switches per call
# of the gateway's loop thread, its other threads (the workers' I/O threads,
# CAF) and its worker processes, next to the call's latency and a bare `ping'
# round trip, in interleaved rounds. Switch counts hold up on a busy machine,
# where latencies do not. With two --build-dir, both builds' gateways run side
# by side and the rounds alternate between them (A, B, A, B, ...): the report
# then gives the per-round latency ratio B/A.
#   bench/erlbridge_wakeups.sh [--rounds N] [--calls N] [--output FILE] [--build-dir DIR [--build-dir DIR2]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
usage_name=erlbridge_wakeups default_rounds=5 default_calls=2000
required_tools=""
. "$here/erlbridge_common.sh"
erlc -o "$work/ebin" "$here/erlbridge_wakeups.erl"

export BENCH_WORK="$work" BENCH_COOKIE="$cookie" BENCH_ROUNDS="$rounds" BENCH_CALLS="$calls" \
       BENCH_ROOT="$root" BENCH_DIRS="$dirs"
"$root/erlbridge/tests/with_private_epmd.sh" "$work" sh -c '
  set -eu
  . "$BENCH_ROOT/erlbridge/tests/gateway_lib.sh"
  gws=""
  i=0
  for d in $BENCH_DIRS; do
    i=$((i + 1))
    start_gateway "$d/bin" "$BENCH_WORK" "erlwake_$$_$i" "$BENCH_COOKIE" --workers 2
    gws="$gws $i:$gw_pid:$gw_node"
  done
  r=1
  while [ $r -le "$BENCH_ROUNDS" ]; do
    for g in $gws; do
      i=${g%%:*}; rest=${g#*:}; pid=${rest%%:*}; node=${rest#*:}
      erl -noshell -sname "erlwake_caller_$$_${r}_$i" -setcookie "$BENCH_COOKIE" \
          -pa "$BENCH_WORK/ebin" -run erlbridge_wakeups round "$node" "$BENCH_CALLS" "$pid" "$i" \
        | sed "s/^{/{\"round\":$r,/"
    done
    r=$((r + 1))
  done
  for g in $gws; do
    rest=${g#*:}
    stop_gateway "${rest%%:*}"
  done
' > "$work/results.jsonl"

/usr/bin/python3 - "$work/results.jsonl" "$rounds" "$calls" "$output" "$dirs" <<'PY'
import json, statistics, sys, datetime
path, rounds, calls, output, dirs = sys.argv[1:6]
dirs = dirs.split()
rows = [json.loads(l) for l in open(path) if l.startswith("{")]
load = " ".join(open("/proc/loadavg").read().split()[:3])
def cell(xs, fmt="{:.1f}"):
    if not xs:
        return "n/a"
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"
lines = ["", "## Erlang bridge: wake-ups per call", "",
         f"- {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {rounds} interleaved rounds of {calls} "
         f"sequential calls (after 200 warm-up calls); load average after: {load}. Each cell: median "
         "over rounds (range). Wake-ups: voluntary context switches per `py:func` call.",
         "",
         "| build | `ping` µs | `py:func` µs | py:func − ping µs | loop thread | other gateway threads | worker processes | total |",
         "|---|---|---|---|---|---|---|---|"]
for i, d in enumerate(dirs, 1):
    rs = [r for r in rows if r["tag"] == str(i)]
    lines.append(f"| {d} | {cell([r['echo_us'] for r in rs])} | {cell([r['func_us'] for r in rs])} | "
                 f"{cell([r['func_us'] - r['echo_us'] for r in rs])} | "
                 f"{cell([r['loop'] for r in rs], '{:.2f}')} | {cell([r['other'] for r in rs], '{:.2f}')} | "
                 f"{cell([r['workers'] for r in rs], '{:.2f}')} | "
                 f"{cell([r['loop'] + r['other'] + r['workers'] for r in rs], '{:.2f}')} |")
if len(dirs) >= 2:
    a = {r["round"]: r for r in rows if r["tag"] == "1"}
    b = {r["round"]: r for r in rows if r["tag"] == "2"}
    ratio = [b[k]["func_us"] / a[k]["func_us"] for k in sorted(a) if k in b]
    lines += ["", f"Per-round `py:func` latency, second build / first: {cell(ratio, '{:.2f}')}."]
lines.append("")
text = "\n".join(lines)
print(text)
if output:
    with open(output, "a") as f:
        f.write(text)
PY
rm -rf "$work"
