#!/bin/bash
# The cluster benchmark: a runtime connected to a head (pyactor::runtime::connect)
# calling a node's workers over a veth link, next to a bare CAF request round
# trip over the same link (an echo actor published in the node's namespace)
# and the same calls on a local pool. Rounds are interleaved; the report gives
# per-round ratios, their median and range.
#
#   ns H: head (no workers) + the benchmark client --veth-- ns N: node (WORKERS) + CAF echo
#
#   bench/cluster_bench.sh [--rounds N] [--calls N] [--workers N] [--output FILE] [--build-dir DIR]
# With --output, the section is appended to FILE (bench/run passes RESULTS.md).
# Needs root and `ip netns`; otherwise it says so and exits 0 (skipped).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build_dir="$root/build"
rounds=5; calls=2000; workers=2; output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --calls) calls=$2; shift ;;
    --workers) workers=$2; shift ;;
    --output) output=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    *) echo "cluster_bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
note() {
  echo "cluster_bench: skipped: $1" >&2
  if [ -n "$output" ]; then
    printf '\n## Cluster (runtime::connect over a veth link)\n\nSkipped: %s\n' "$1" >>"$output"
  fi
  exit 0
}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
  note "needs root and iproute2 (ip netns) to make the two namespaces"
fi
bin="$build_dir/bin"
for exe in pyactor pyactor-worker pyactor-bench-cluster; do
  [ -x "$bin/$exe" ] || { echo "cluster_bench: $bin/$exe is missing (build first)" >&2; exit 2; }
done
tag="pb$$"; H="$tag-h"; N="$tag-n"
PORT=7600; ECHO_PORT=7601
work=$(mktemp -d /tmp/pyactor-clusterbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for ns in "$H" "$N"; do
    if ip netns list | grep -qw "$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  ip link del "${tag}a" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for ns in "$H" "$N"; do ip netns add "$ns" || exit 1; ip -n "$ns" link set lo up; done
ip link add "${tag}a" type veth peer name "${tag}b" || exit 1
ip link set "${tag}a" netns "$H"; ip link set "${tag}b" netns "$N"
ip -n "$H" addr add 10.250.1.1/30 dev "${tag}a"; ip -n "$N" addr add 10.250.1.2/30 dev "${tag}b"
ip -n "$H" link set "${tag}a" up; ip -n "$N" link set "${tag}b" up

ip netns exec "$H" "$bin/pyactor" head --listen "0.0.0.0:$PORT" --insecure --workers 0 \
  >"$work/head.log" 2>&1 & pids+=($!)
ip netns exec "$N" "$bin/pyactor" node --join "10.250.1.1:$PORT" --name n --insecure \
  --workers "$workers" >"$work/node.log" 2>&1 & pids+=($!)
node_pid=$!
ip netns exec "$N" "$bin/pyactor-bench-cluster" echo "$ECHO_PORT" >"$work/echo.log" 2>&1 & pids+=($!)
echo_pid=$!
for i in $(seq 600); do
  ready=$(ip netns exec "$H" "$bin/pyactor" --connect "127.0.0.1:$PORT" status 2>/dev/null \
            | awk '$1 == "n" && $4 == "ready"' | wc -l)
  [ "$ready" = "$workers" ] && grep -q "echo ready" "$work/echo.log" && break
  sleep 0.1
done
[ "$ready" = "$workers" ] || { echo "cluster_bench: the node did not join"; tail "$work"/*.log; exit 1; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
PYACTOR_BENCH_NODE_PID=$node_pid PYACTOR_BENCH_ECHO_PID=$echo_pid \
  ip netns exec "$H" "$bin/pyactor-bench-cluster" run "127.0.0.1:$PORT" "10.250.1.2:$ECHO_PORT" \
  "$rounds" "$calls" "$workers" >"$work/results.jsonl" || { tail "$work"/*.log; exit 1; }
/usr/bin/python3 - "$work/results.jsonl" "$rounds" "$calls" "$workers" "$load" "$output" <<'PY'
import json, sys
path, rounds, calls, workers, load, output = sys.argv[1:7]
rows = [json.loads(l) for l in open(path) if l.strip()]
per = [r for r in rows if not r.get("summary")]
s = [r for r in rows if r.get("summary")][0]
out = ["", "## Cluster (runtime::connect over a veth link)", "",
       f"A head (no workers) and the client in one namespace, a node with {workers} workers and a CAF echo "
       f"actor in another, one veth link between them. {rounds} interleaved rounds of {calls} sequential "
       f"calls (`operator.add(1, 2)`) / {calls} CAF requests of 64 bytes, and {4 * int(calls)} async calls "
       f"with 64 in flight; the local pool has {workers} workers. Load average before: {load}.", "",
       "| round | CAF round trip µs | remote call µs | local call µs | remote async/s | local async/s | remote/CAF | remote/(CAF+local) | remote/local async | wake-ups per CAF request: client / echo | per remote call: client / node |",
       "|---|---|---|---|---|---|---|---|---|---|---|"]
for r in per:
    out.append(f"| {r['round']} | {r['caf_round_trip_us']:.0f} | {r['remote_call_us']:.0f} | {r['local_call_us']:.0f} | "
               f"{r['remote_async_per_s']:.0f} | {r['local_async_per_s']:.0f} | {r['remote_vs_caf']:.2f} | "
               f"{r['remote_vs_caf_plus_local']:.2f} | "
               f"{r['remote_vs_local_async']:.2f} | {r.get('caf_wakeups_client', -1):.1f} / {r.get('caf_wakeups_echo', -1):.1f} | "
               f"{r.get('remote_wakeups_client', -1):.1f} / {r.get('remote_wakeups_node', -1):.1f} |")
out += ["", "CPU µs per async call (all threads, from /proc/PID/task/*/schedstat; the local pool's "
        "client is this benchmark process, whose other threads idle meanwhile):", "",
        "| round | remote: client | node | node's workers | total | local: client | workers | total |",
        "|---|---|---|---|---|---|---|---|"]
for r in per:
    rc, rn, rw = r['remote_async_cpu_client_us'], r['remote_async_cpu_node_us'], r['remote_async_cpu_node_workers_us']
    lc, lw = r['local_async_cpu_client_us'], r['local_async_cpu_workers_us']
    out.append(f"| {r['round']} | {rc:.1f} | {rn:.1f} | {rw:.1f} | {rc + rn + rw:.1f} | {lc:.1f} | {lw:.1f} | {lc + lw:.1f} |")
out += ["",
        f"Remote blocking call / bare CAF round trip: median {s['remote_vs_caf_median']:.2f}× "
        f"(range {s['remote_vs_caf_min']:.2f}–{s['remote_vs_caf_max']:.2f}; target ≤ 1.3).",
        f"Remote blocking call / (CAF round trip + local call), what a call that runs on the node "
        f"must at least cost: median {s['remote_vs_floor_median']:.2f}× "
        f"(range {s['remote_vs_floor_min']:.2f}–{s['remote_vs_floor_max']:.2f}).",
        f"Remote async throughput / local: median {s['remote_vs_local_async_median']:.2f} "
        f"(range {s['remote_vs_local_async_min']:.2f}–{s['remote_vs_local_async_max']:.2f}; target ≥ 0.5)."]
text = "\n".join(out) + "\n"
print(text)
if output:
    with open(output, "a") as f:
        f.write(text)
PY
