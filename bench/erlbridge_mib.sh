#!/bin/sh
# The 1 MiB binary round trip only (`py:func(builtins, bytes, [{bytes, Bin}])`),
# interleaved between the builds given with --build-dir (one gateway each, all
# on one private epmd), to compare two builds of the reply path:
#   bench/erlbridge_mib.sh [--rounds N] [--calls N] [--stages] --build-dir DIR [--build-dir DIR2 ...]
# Prints per build the median of the rounds' medians (range), the ratio of
# each build to the first one per round, and the load average. --stages runs
# the gateways with PYACTOR_BRIDGE_STAGES=1 and prints their stage reports.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
usage_name=erlbridge_mib default_rounds=5 default_calls=100 required_tools=""
. "$here/erlbridge_common.sh"
export MIB_DIRS="$dirs" MIB_WORK="$work" MIB_COOKIE="$cookie" MIB_ROUNDS="$rounds" \
       MIB_CALLS="$calls" MIB_STAGES="$stages" MIB_ROOT="$root"
"$root/erlbridge/tests/with_private_epmd.sh" "$work" sh -c '
  set -eu
  . "$MIB_ROOT/erlbridge/tests/gateway_lib.sh"
  if [ "$MIB_STAGES" = 1 ]; then export PYACTOR_BRIDGE_STAGES=1; fi
  k=0
  for d in $MIB_DIRS; do
    k=$((k + 1))
    start_gateway "$d/bin" "$MIB_WORK" "erlmib_$$_$k" "$MIB_COOKIE" --workers 2
    echo $gw_pid > "$MIB_WORK/gw$k.pid"
    echo $gw_node > "$MIB_WORK/gw$k.node"
  done
  r=1
  while [ $r -le "$MIB_ROUNDS" ]; do
    for j in $(seq 1 $k); do
      erl -noshell -sname "erlmib_caller_$$_${r}_$j" -setcookie "$MIB_COOKIE" -pa "$MIB_WORK/ebin" \
          -run erlbridge_bench mib "$(cat "$MIB_WORK/gw$j.node")" "$MIB_CALLS" \
        | sed "s/^{/{\"round\":$r,\"build\":$j,/"
    done
    r=$((r + 1))
  done
  # CPU time of each gateway process (all its threads; not its workers):
  # fields 14 and 15 of /proc/PID/stat, in clock ticks.
  for j in $(seq 1 $k); do
    ticks=$(sed "s/.*) //" "/proc/$(cat "$MIB_WORK/gw$j.pid")/stat" | cut -d" " -f12,13 | tr " " "+")
    echo "{\"build\":$j,\"cpu_ticks\":$(($ticks)),\"hz\":$(getconf CLK_TCK)}"
  done
  for j in $(seq 1 $k); do
    stop_gateway "$(cat "$MIB_WORK/gw$j.pid")"
    sed -n "s/^pyactor bridge: \(stages of .*\)/{\"build\":$j,\"stages\":\"\1\"}/p" \
        "$MIB_WORK/erlmib_$$_$j.err"
  done
' > "$work/results.jsonl"
/usr/bin/python3 - "$work/results.jsonl" "$dirs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
dirs = sys.argv[2].split()
load = " ".join(open("/proc/loadavg").read().split()[:3])
print(f"1 MiB round trip, {len({r['round'] for r in rows if 'round' in r})} interleaved rounds; load average after: {load}")
base = {r["round"]: r["median_us"] for r in rows if r.get("build") == 1 and "round" in r}
for j, d in enumerate(dirs, 1):
    xs = [r["median_us"] / 1000 for r in rows if r.get("build") == j and "round" in r]
    ratio = [r["median_us"] / base[r["round"]] for r in rows
             if r.get("build") == j and "round" in r and r["round"] in base]
    print(f"  build {j} ({d}): median {statistics.median(xs):.2f} ms "
          f"(rounds {min(xs):.2f}-{max(xs):.2f}); / build 1: {statistics.median(ratio):.3f} "
          f"({min(ratio):.3f}-{max(ratio):.3f})")
calls_made = {}
for r in rows:
    if "round" in r:
        calls_made[r["build"]] = calls_made.get(r["build"], 0) + r["n"] + 200  # with warm-up
for r in rows:
    if "cpu_ticks" in r and calls_made.get(r["build"]):
        print(f"  build {r['build']}: gateway CPU {r['cpu_ticks'] / r['hz'] / calls_made[r['build']] * 1e6:.0f} us "
              f"per call ({calls_made[r['build']]} calls, all of its threads)")
for r in rows:
    if "stages" in r:
        print(f"  build {r['build']}: {r['stages']}")
PY
rm -rf "$work"
