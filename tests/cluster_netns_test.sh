#!/bin/bash
# Cluster test across "hosts": network namespaces joined by veth pairs, real
# `pyactor head` and `pyactor node` processes. Needs root (CI runs as root).
# Every namespace, link and process it creates is removed on exit, also on failure.
#
#   ns H (head, 10.248.1.1 / 10.248.2.1) --veth-- ns N1 (node n1, 10.248.1.2)
#                                        --veth-- ns N2 (node n2, 10.248.2.2)
set -u
PYACTOR=${1:?usage: cluster_netns_test.sh PATH/TO/pyactor}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root and iproute2 (ip netns)"; exit 77
fi
tag="pa$$"                       # unique per run: namespaces and links
H="$tag-h"; N1="$tag-n1"; N2="$tag-n2"
PORT=7400
HEAD_ADDR=10.248.1.1             # the head as node n1 sees it
work=$(mktemp -d /tmp/pyactor-cluster.XXXXXX)
pids=()                          # every process we start
failures=0

. "$(dirname "$0")/cluster_test_lib.sh"
# fail, check, wait_until, stop_started, remove_namespaces, keep_logs_on_failure, star_network
cleanup() {
  stop_started
  remove_namespaces "$H" "$N1" "$N2"
  keep_logs_on_failure
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# -- network -------------------------------------------------------------------------------
star_network 10.248 "$H" "$N1" "$N2" || exit 1

# -- helpers -------------------------------------------------------------------------------
# start NAME NS ARGS...: runs pyactor in NS in the background; sets $last_pid.
client() { timeout 60 ip netns exec "$H" "$PYACTOR" --connect "127.0.0.1:$PORT" "$@"; }
node_up() { client status 2>/dev/null | grep -E "^$1 +[^ ]+ +up " >/dev/null; }
ready_workers() { client status 2>/dev/null | awk -v n="$1" '$1 == n && $4 == "ready"' | wc -l; }
alive() { kill -0 "$1" 2>/dev/null; }
now_ms() { date +%s%3N; }

start_head() {
  start head "$H" head --listen "0.0.0.0:$PORT" --insecure --workers 1; head_pid=$last_pid
}
start_head
start n1 "$N1" node --join "$HEAD_ADDR:$PORT" --name n1 --workers 2 --insecure; n1_pid=$last_pid
start n2 "$N2" node --join "10.248.2.1:$PORT" --name n2 --workers 2 --insecure; n2_pid=$last_pid

wait_until "n1 and n2 joined with 2 ready workers each" 60 \
  '[ "$(ready_workers n1)" = 2 ] && [ "$(ready_workers n2)" = 2 ]'
check "the head warned about --insecure" 'grep -q "WARNING: --insecure" "$work/head.log"'

# -- broadcast and calls across nodes ----------------------------------------------------------
out=$(client broadcast os.getpid)
echo "$out"
check "broadcast: one result per worker of every node (5)" '[ "$(echo "$out" | wc -l)" = 5 ]'
check "broadcast: head/1, n1/1, n1/2, n2/1, n2/2" \
  '[ "$(echo "$out" | cut -d: -f1 | tr "\n" " ")" = "head/1 n1/1 n1/2 n2/1 n2/2 " ]'
check "broadcast: 5 distinct worker pids" '[ "$(echo "$out" | cut -d" " -f2 | sort -u | wc -l)" = 5 ]'
n1_workers=$(echo "$out" | grep '^n1/' | cut -d' ' -f2)
n2_workers=$(echo "$out" | grep '^n2/' | cut -d' ' -f2)
check "broadcast --node n1: its 2 workers" '[ "$(client broadcast os.getpid --node n1 | grep -c "^n1/")" = 2 ]'
check "broadcast --node n2: its 2 workers" '[ "$(client broadcast os.getpid --node n2 | grep -c "^n2/")" = 2 ]'
check "call through the head" '[ "$(client call math.pow 2 16)" = 65536.0 ]'
check "eval through the head" '[ "$(client eval "sum(range(10))")" = 45 ]'
check "a Python error comes back typed" 'client call math.sqrt -1 2>&1 | grep -q "python_exception: ValueError"'
check "status lists every node" 'client status | grep -Eq "^head +local +up" && node_up n1 && node_up n2'
# calls spread over the nodes: 10 concurrent sleeps keep every node busy (least loaded)
busy_nodes() { client status | awk '$4 == "ready" && $6 > 0 {print $1}' | sort -u | tr '\n' ' '; }
for i in $(seq 10); do client call time.sleep 3 >/dev/null & pids+=($!); done
wait_until "calls in flight on head, n1 and n2 at once (spread by the head)" 20 \
  '[ "$(busy_nodes)" = "head n1 n2 " ]'
wait_until "the 10 concurrent calls finished" 30 '[ -z "$(busy_nodes)" ]'

# -- a node SIGKILLed during calls -------------------------------------------------------------
for i in $(seq 8); do
  (client call time.sleep 4 >"$work/kill.$i.out" 2>&1; echo "exit=$?" >>"$work/kill.$i.out") &
  pids+=($!)
done
wait_until "calls in flight on n1" 20 \
  'client status | awk "\$1 == \"n1\" && \$4 == \"ready\" && \$6 > 0" | grep -q .'
t0=$(now_ms)
kill -KILL "$n1_pid"
wait_until "a node_down answer for the killed node" 30 'cat "$work"/kill.*.out | grep -q node_down'
echo "first node_down answer $(( $(now_ms) - t0 )) ms after the kill"
wait_until "the killed node's calls answered" 30 \
  '[ "$(cat "$work"/kill.*.out 2>/dev/null | grep -c "^exit=")" = 8 ]'
check "every call got exactly one reply (None or node_down)" '
  for f in "$work"/kill.*.out; do
    [ "$(grep -cE "^None$|node_down" "$f")" = 1 ] || exit 1
  done'
check "calls on the killed node got node_down" 'cat "$work"/kill.*.out | grep -q node_down'
check "calls on other nodes succeeded" 'cat "$work"/kill.*.out | grep -q "^None$"'
wait_until "the killed node's workers are gone (no orphans)" 10 \
  'for p in $n1_workers; do alive $p && exit 1; done; true'
wait_until "status shows n1 down" 10 'client status | grep -Eq "^n1 .* down "'
check "the cluster serves on without n1" '[ "$(client broadcast os.getpid | wc -l)" = 3 ]'
start n1 "$N1" node --join "$HEAD_ADDR:$PORT" --name n1 --workers 2 --insecure; n1_pid=$last_pid
wait_until "a new n1 joined" 60 '[ "$(ready_workers n1)" = 2 ]'
n1_workers=$(client broadcast os.getpid --node n1 | cut -d' ' -f2)

# -- a node frozen with SIGSTOP, then SIGCONT ---------------------------------------------------
(client broadcast time.sleep 10 --node n2 >"$work/stop.out" 2>&1; echo "exit=$?" >>"$work/stop.out") &
pids+=($!)
wait_until "calls in flight on both of n2's workers" 20 \
  '[ "$(client status | awk "\$1 == \"n2\" && \$4 == \"ready\" && \$6 > 0" | wc -l)" = 2 ]'
t0=$(now_ms)
kill -STOP "$n2_pid"
wait_until "the frozen node's calls answered" 20 'grep -q "^exit=" "$work/stop.out"'
echo "node_down answers $(( $(now_ms) - t0 )) ms after SIGSTOP"
check "both calls on the frozen node got node_down" '[ "$(grep -c "node_down" "$work/stop.out")" = 2 ]'
check "the frozen node left the scheduler" 'client status | grep -Eq "^n2 .* down " && [ "$(client broadcast os.getpid | wc -l)" = 3 ]'
kill -CONT "$n2_pid"
wait_until "n2 rejoined after SIGCONT" 40 '[ "$(ready_workers n2)" = 2 ]'
check "n2 serves with the same worker processes" \
  '[ "$(client broadcast os.getpid --node n2 | cut -d" " -f2 | tr "\n" " ")" = "$(echo $n2_workers) " ]'

# -- a link cut and restored ----------------------------------------------------------------------
(client broadcast time.sleep 10 --node n2 >"$work/link.out" 2>&1; echo "exit=$?" >>"$work/link.out") &
pids+=($!)
wait_until "calls in flight on both of n2's workers" 20 \
  '[ "$(client status | awk "\$1 == \"n2\" && \$4 == \"ready\" && \$6 > 0" | wc -l)" = 2 ]'
t0=$(now_ms)
ip -n "$N2" link set "${tag}b2" down
wait_until "the cut-off node's calls answered" 20 'grep -q "^exit=" "$work/link.out"'
echo "node_down answers $(( $(now_ms) - t0 )) ms after the link went down"
check "both calls on the cut-off node got node_down" '[ "$(grep -c "node_down" "$work/link.out")" = 2 ]'
check "status shows n2 down" 'client status | grep -Eq "^n2 .* down "'
ip -n "$N2" link set "${tag}b2" up
wait_until "n2 rejoined after the link came back" 60 '[ "$(ready_workers n2)" = 2 ]'
check "n2 kept its worker processes" \
  '[ "$(client broadcast os.getpid --node n2 | cut -d" " -f2 | tr "\n" " ")" = "$(echo $n2_workers) " ]'

# -- head restart --------------------------------------------------------------------------------
kill -TERM "$head_pid"
wait_until "the head stopped on SIGTERM" 20 '! alive $head_pid'
check "the head exited cleanly" 'wait $head_pid'
start_head
wait_until "both nodes rejoined the new head" 60 \
  '[ "$(ready_workers n1)" = 2 ] && [ "$(ready_workers n2)" = 2 ]'
check "broadcast after the restart: 5 results" '[ "$(client broadcast os.getpid | wc -l)" = 5 ]'

# -- shutdown: no process left behind ---------------------------------------------------------------
all_workers="$n1_workers $n2_workers"
for p in $n1_pid $n2_pid $head_pid; do kill -TERM "$p"; done
for p in $n1_pid $n2_pid $head_pid; do
  wait_until "pid $p stopped on SIGTERM" 30 '! alive '"$p"
done
check "no worker process left" 'for p in $all_workers; do alive $p && exit 1; done; true'
for ns in "$H" "$N1" "$N2"; do
  wait_until "namespace $ns has no process left" 10 '[ -z "$(ip netns pids "$ns")" ]' ||
    for p in $(ip netns pids "$ns"); do echo "  left: $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
done

echo "$failures failures"
[ "$failures" -eq 0 ]
