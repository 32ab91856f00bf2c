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
root=$(dirname "$here")
rounds=5
calls=100
dirs=""
stages=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --calls) calls=$2; shift ;;
    --build-dir) dirs="$dirs $2"; shift ;;
    --stages) stages=1 ;;
    *) echo "erlbridge_mib: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$dirs" ] || dirs=" $root/build"
for d in $dirs; do
  for exe in pyactor pyactor-worker; do
    [ -x "$d/bin/$exe" ] || { echo "erlbridge_mib: $d/bin/$exe is missing (build first)" >&2; exit 2; }
  done
done
work=$(mktemp -d /tmp/pyactor-erlmib.XXXXXX)
mkdir -p "$work/ebin"
erlc -o "$work/ebin" "$root"/erlbridge/erlang/src/*.erl "$here/erlbridge_bench.erl"
cp "$root/erlbridge/erlang/src/pyactor.app.src" "$work/ebin/pyactor.app"
cookie=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
export MIB_DIRS="$dirs" MIB_WORK="$work" MIB_COOKIE="$cookie" MIB_ROUNDS="$rounds" \
       MIB_CALLS="$calls" MIB_STAGES="$stages"
"$root/erlbridge/tests/with_private_epmd.sh" "$work" sh -c '
  set -eu
  k=0
  nodes=""
  for d in $MIB_DIRS; do
    k=$((k + 1))
    if [ "$MIB_STAGES" = 1 ]; then export PYACTOR_BRIDGE_STAGES=1; fi
    "$d/bin/pyactor" bridge --sname "erlmib_$$_$k" --cookie "$MIB_COOKIE" --workers 2 \
        > "$MIB_WORK/gw$k.out" 2> "$MIB_WORK/gw$k.err" &
    echo $! >> "$PYACTOR_TEST_PIDS"
    echo $! > "$MIB_WORK/gw$k.pid"
  done
  for j in $(seq 1 $k); do
    i=0
    until grep -q "^ready " "$MIB_WORK/gw$j.out"; do
      kill -0 "$(cat "$MIB_WORK/gw$j.pid")" || { cat "$MIB_WORK/gw$j.err" >&2; exit 1; }
      i=$((i + 1)); [ $i -lt 600 ] || { echo "gateway $j did not start" >&2; exit 1; }
      sleep 0.1
    done
  done
  r=1
  while [ $r -le "$MIB_ROUNDS" ]; do
    for j in $(seq 1 $k); do
      node=$(sed -n "s/^ready //p" "$MIB_WORK/gw$j.out")
      erl -noshell -sname "erlmib_caller_$$_${r}_$j" -setcookie "$MIB_COOKIE" -pa "$MIB_WORK/ebin" \
          -run erlbridge_bench mib "$node" "$MIB_CALLS" | sed "s/^{/{\"round\":$r,\"build\":$j,/"
    done
    r=$((r + 1))
  done
  for j in $(seq 1 $k); do
    pid=$(cat "$MIB_WORK/gw$j.pid")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    sed -n "s/^pyactor bridge: \(stages of .*\)/{\"build\":$j,\"stages\":\"\1\"}/p" "$MIB_WORK/gw$j.err"
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
for r in rows:
    if "stages" in r:
        print(f"  build {r['build']}: {r['stages']}")
PY
rm -rf "$work"
