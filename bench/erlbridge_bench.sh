#!/bin/sh
# The Erlang bridge benchmark: an Erlang caller's trivial `py:func` next to a
# bare Erlang -> C-node round trip (the gateway's own `ping`) and a local C++
# pyactor call; async throughput from 8 Erlang processes; a 1 MiB binary
# round trip. Rounds are interleaved (local, then Erlang, per round); the
# report gives the median of the rounds' medians and their range.
#   bench/erlbridge_bench.sh [--rounds N] [--calls N] [--output FILE] [--build-dir DIR]
# With --output, the section is appended to FILE (bench/run passes RESULTS.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
usage_name=erlbridge_bench default_rounds=5 default_calls=2000
required_tools=pyactor-bench-erlbridge-local
. "$here/erlbridge_common.sh"
bin="$build_dir/bin"

# Everything below runs with a private epmd; the gateways are stopped by pid.
export BENCH_BIN="$bin" BENCH_WORK="$work" BENCH_COOKIE="$cookie" BENCH_ROUNDS="$rounds" \
       BENCH_CALLS="$calls" BENCH_ROOT="$root"
"$root/erlbridge/tests/with_private_epmd.sh" "$work" sh -c '
  set -eu
  . "$BENCH_ROOT/erlbridge/tests/gateway_lib.sh"
  name="erlbench_$$"
  start_gateway "$BENCH_BIN" "$BENCH_WORK" "$name" "$BENCH_COOKIE" --workers 2
  gw=$gw_pid
  node=$gw_node
  # The floor without the gateway: a plain Erlang echo node on this host.
  erl -noshell -sname "erlbench_echo_$$" -setcookie "$BENCH_COOKIE" -pa "$BENCH_WORK/ebin" \
      -run erlbridge_bench echo_server > "$BENCH_WORK/echo.out" 2> "$BENCH_WORK/echo.err" &
  echo_pid=$!
  echo $echo_pid >> "$PYACTOR_TEST_PIDS"
  await "$BENCH_WORK/echo.out" "^ready" $echo_pid >&2 || { cat "$BENCH_WORK/echo.err" >&2; exit 1; }
  echo_node="erlbench_echo_$$@$(hostname -s)"
  r=1
  while [ $r -le "$BENCH_ROUNDS" ]; do
    echo "== round $r" >&2
    "$BENCH_BIN/pyactor-bench-erlbridge-local" "$BENCH_CALLS" | sed "s/^{/{\"round\":$r,/"
    erl -noshell -sname "erlbench_caller_$$_$r" -setcookie "$BENCH_COOKIE" -pa "$BENCH_WORK/ebin" \
        -run erlbridge_bench round "$node" "$echo_node" "$BENCH_CALLS" $gw \
      | sed "s/^{/{\"round\":$r,/"
    r=$((r + 1))
  done
  kill -TERM $echo_pid
  wait $echo_pid || true
  stop_gateway $gw
  # Where a py:func call spends its time inside the gateway: a second gateway
  # records per-stage times of sequential calls and reports them on stop.
  export PYACTOR_BRIDGE_STAGES=1
  start_gateway "$BENCH_BIN" "$BENCH_WORK" "${name}_stages" "$BENCH_COOKIE" --workers 2
  unset PYACTOR_BRIDGE_STAGES
  erl -noshell -sname "erlbench_stages_$$" -setcookie "$BENCH_COOKIE" -pa "$BENCH_WORK/ebin" \
      -run erlbridge_bench stages "$gw_node" "$BENCH_CALLS"
  stop_gateway $gw_pid
  sed -n "s/^pyactor bridge: stages of /{\"round\":0,\"name\":\"stages\",\"text\":\"/p" \
      "$BENCH_WORK/${name}_stages.err" | sed "s/\$/\"}/"
  sed -n "s/^pyactor bridge: writev /{\"round\":0,\"name\":\"writev\",\"text\":\"/p" \
      "$BENCH_WORK/${name}_stages.err" | sed "s/\$/\"}/"
' > "$work/results.jsonl"

/usr/bin/python3 - "$work/results.jsonl" "$rounds" "$calls" "$output" <<'PY'
import json, statistics, sys, datetime, os
path, rounds, calls, output = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(path) if l.startswith("{")]
def col(name, key):
    return [r[key] for r in rows if r["name"] == name]
def cell(name, key, unit, scale=1.0, fmt="{:.1f}"):
    xs = [x * scale for x in col(name, key)]
    if not xs:
        return "n/a"
    return f"{fmt.format(statistics.median(xs))} {unit} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"
load = open("/proc/loadavg").read().split()[:3]
lines = [
    "",
    "## Erlang bridge (erlbridge)",
    "",
    f"- {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {rounds} interleaved rounds of {calls} sequential calls "
    f"each (after 200 warm-up calls); load average after: {' '.join(load)}. Each cell: median of the "
    "rounds' medians (range over rounds).",
    "- Gateway `pyactor bridge --workers 2` on a private epmd; callers `erl -sname` on this host; the "
    "local reference is a blocking C++ `runtime::call` on its own 2-worker pool.",
    "",
    "| figure | median | p99 |",
    "|---|---|---|",
    f"| bare Erlang -> C-node round trip (`gen_server:call` of `ping`, answered by the gateway) | {cell('echo','median_us','µs')} | {cell('echo','p99_us','µs')} |",
    f"| bare Erlang -> Erlang round trip (`gen_server:call` of `ping` to a plain receive loop on another node) | {cell('erl_echo','median_us','µs')} | {cell('erl_echo','p99_us','µs')} |",
    f"| local pyactor call, C++ `call(\"operator\", \"add\")` | {cell('local_call','median_us','µs')} | {cell('local_call','p99_us','µs')} |",
    f"| Erlang `py:func(operator, add, [I, 1])` | {cell('py_func','median_us','µs')} | {cell('py_func','p99_us','µs')} |",
    f"| async throughput, 8 Erlang processes × 2,500 calls, 32 in flight each (`py:async_func`, through the batcher: {cell('batch_size','calls_per_batch','calls per message')}; CPU per call: gateway {cell('async_8_cpu','gateway_us','µs', fmt='{:.2f}')}, workers summed {cell('async_8_cpu','workers_us','µs', fmt='{:.2f}')}, Erlang node {cell('async_8_cpu','erlang_us','µs', fmt='{:.2f}')}) | {cell('async_8','calls_per_s','calls/s', fmt='{:,.0f}')} | |",
    f"| the same calls one distribution message each (`gen_server:send_request` to `{{py, Node}}`, no batcher) | {cell('async_8_direct','calls_per_s','calls/s', fmt='{:,.0f}')} | |",
    f"| floor: the same 8 × 32 window of `ping`s the gateway answers itself (Erlang -> C-node, no Python) | {cell('echo_async_8','calls_per_s','calls/s', fmt='{:,.0f}')} | |",
    f"| floor without the gateway: the same 8 × 32 window of `ping`s to a plain Erlang echo node (Erlang -> Erlang, same host) | {cell('erl_echo_async_8','calls_per_s','calls/s', fmt='{:,.0f}')} | |",
    f"| floor: the local pool's own async throughput, C++ `call_async`, 256 in flight | {cell('local_async','calls_per_s','calls/s', fmt='{:,.0f}')} | |",
    f"| 1 MiB binary round trip (`py:func(builtins, bytes, [{{bytes, Bin}}])`, 40 calls) | {cell('binary_1MiB','median_us','ms', 0.001, '{:.2f}')} | {cell('binary_1MiB','p99_us','ms', 0.001, '{:.2f}')} |",
    f"| floor: the same 1 MiB binary echoed by a plain Erlang node (`gen_server:call`, Erlang -> Erlang) | {cell('erl_echo_1MiB','median_us','ms', 0.001, '{:.2f}')} | {cell('erl_echo_1MiB','p99_us','ms', 0.001, '{:.2f}')} |",
]
echo, local, func = (statistics.median(col(n, "median_us")) for n in ("echo", "local_call", "py_func"))
tput = statistics.median(col("async_8", "calls_per_s"))
mib = statistics.median(col("binary_1MiB", "median_us")) / 1000
def ratios(f):
    out = []
    for r in sorted({row["round"] for row in rows}):
        got = {row["name"]: row for row in rows if row["round"] == r}
        try:
            out.append(f(got))
        except KeyError:
            pass
    return out
def spread(xs):
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"
lat = ratios(lambda g: g["py_func"]["median_us"] / (g["echo"]["median_us"] + g["local_call"]["median_us"]))
vs_echo = ratios(lambda g: g["async_8"]["calls_per_s"] / g["echo_async_8"]["calls_per_s"])
vs_erl = ratios(lambda g: g["echo_async_8"]["calls_per_s"] / g["erl_echo_async_8"]["calls_per_s"])
echo_vs_erl = ratios(lambda g: g["echo"]["median_us"] / g["erl_echo"]["median_us"])
mib_vs_erl = ratios(lambda g: g["binary_1MiB"]["median_us"] / g["erl_echo_1MiB"]["median_us"])
vs_erl_floor = ratios(lambda g: g["async_8"]["calls_per_s"] / g["erl_echo_async_8"]["calls_per_s"])
vs_direct = ratios(lambda g: g["async_8"]["calls_per_s"] / g["async_8_direct"]["calls_per_s"])
vs_local = ratios(lambda g: g["async_8"]["calls_per_s"] / g["local_async"]["calls_per_s"])
stages = [r["text"] for r in rows if r["name"] == "stages"]
if stages:
    lines += ["", "Inside the gateway (a separate run of sequential `py:func` calls with "
              "`PYACTOR_BRIDGE_STAGES=1`): " + stages[0].rstrip(";") + "."]
writev = [r["text"] for r in rows if r["name"] == "writev"]
if writev:
    lines += ["", "The same gateway's `writev` " + writev[0] + " (the system call alone, "
              "inside the write stage)."]
lines += [
    "",
    "Per-round ratios, median (range): "
    f"`py:func` / (echo + local call) {spread(lat)}; async_8 (batched) / Erlang echo window "
    f"(one message per call) {spread(vs_erl_floor)}; async_8 batched / unbatched {spread(vs_direct)}; "
    f"async_8 / gateway ping window {spread(vs_echo)}; "
    f"async_8 / local pool floor {spread(vs_local)}; gateway ping window / Erlang echo window "
    f"{spread(vs_erl)}; gateway ping latency / Erlang echo latency {spread(echo_vs_erl)}; "
    f"1 MiB round trip / Erlang 1 MiB echo {spread(mib_vs_erl)}.",
    "",
    f"Targets: `py:func` ≤ echo + local call: {func:.1f} vs {echo + local:.1f} µs "
    f"({'met' if func <= echo + local else 'not met'}); ≥ 100k calls/s from 8 callers: {tput:,.0f} "
    f"({'met' if tput >= 100000 else 'not met'}); 1 MiB round trip ≤ 2 ms: {mib:.2f} ms "
    f"({'met' if mib <= 2 else 'not met'}).",
    "",
]
text = "\n".join(lines)
print(text)
if output:
    with open(output, "a") as f:
        f.write(text)
PY
rm -rf "$work"
