#!/bin/bash
# Calls sent straight to the node that runs them (runtime::connect): load
# counted cluster-wide, a node lost or frozen while a client sends to it
# directly, and a node the client cannot reach directly. Network namespaces
# joined by veth pairs, real `pyactor head` and `pyactor node` processes.
# Needs root. Every namespace, link and process it creates is removed on exit,
# also on failure.
#
#   ns H (head + clients, 10.248.1.1 / 10.248.2.1) --veth-- ns N1 (n1, 10.248.1.2)
#                                                  --veth-- ns N2 (n2 and n3, 10.248.2.2)
# n3 listens for clients on its own loopback only: the clients reach it through the head.
set -u
PYACTOR=${1:?usage: cluster_direct_test.sh PATH/TO/pyactor PATH/TO/pyactor-cluster-direct-client}
CLIENT=${2:?usage: cluster_direct_test.sh PATH/TO/pyactor PATH/TO/pyactor-cluster-direct-client}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root and iproute2 (ip netns)"; exit 77
fi
tag="pd$$"
H="$tag-h"; N1="$tag-n1"; N2="$tag-n2"
PORT=7700
HEAD="127.0.0.1:$PORT"
work=$(mktemp -d /tmp/pyactor-direct.XXXXXX)
pids=()
failures=0

. "$(dirname "$0")/cluster_test_lib.sh"
cleanup() {
  exec 7>&- 2>/dev/null
  stop_started
  remove_namespaces "$H" "$N1" "$N2"
  keep_logs_on_failure
}
trap cleanup EXIT
trap 'exit 1' INT TERM

star_network 10.248 "$H" "$N1" "$N2" || exit 1

cli() { timeout 120 ip netns exec "$H" "$PYACTOR" --connect "$HEAD" "$@"; }
cpp() { timeout 180 ip netns exec "$H" "$CLIENT" "$HEAD" "$@"; }
ready_workers() { cli status 2>/dev/null | awk -v n="$1" '$1 == n && $4 == "ready"' | wc -l; }
alive() { kill -0 "$1" 2>/dev/null; }
all_up() {
  wait_until "n1, n2 and n3 up with 2 ready workers each" 60 \
    '[ "$(ready_workers n1)" = 2 ] && [ "$(ready_workers n2)" = 2 ] && [ "$(ready_workers n3)" = 2 ]'
}

start head "$H" head --listen "0.0.0.0:$PORT" --insecure --workers 0; head_pid=$last_pid
start n1 "$N1" node --join "10.248.1.1:$PORT" --name n1 --workers 2 --insecure; n1_pid=$last_pid
start n2 "$N2" node --join "10.248.2.1:$PORT" --name n2 --workers 2 --insecure; n2_pid=$last_pid
start n3 "$N2" node --join "10.248.2.1:$PORT" --name n3 --workers 2 --insecure \
  --listen 127.0.0.1:0; n3_pid=$last_pid
all_up
check "nodes say where clients reach them" \
  'grep -q "clients reach it on port" "$work/n1.log" && grep -q "clients reach it on port" "$work/n3.log"'

# -- a node the client cannot reach directly: through the head ------------------------------------
cpp fallback n3 >"$work/fallback.out" 2>&1; code=$?
cat "$work/fallback.out"
check "n3 (listening on its loopback only) is served through the head, and the client says why" \
  '[ $code = 0 ] && ! grep -q FAIL "$work/fallback.out"'

# -- least-loaded counts other clients' calls ------------------------------------------------------
ip netns exec "$H" "$CLIENT" "$HEAD" busy n1 >"$work/busy.out" 2>&1 &
busy_pid=$!; pids+=("$busy_pid")
wait_until "another client keeps every worker of n1 busy" 60 'grep -q "^busy" "$work/busy.out"'
cpp spread n1 40 >"$work/spread.out" 2>&1; code=$?
cat "$work/spread.out"
check "a busy node gets fewer calls than the others" '[ $code = 0 ] && ! grep -q FAIL "$work/spread.out"'
kill -KILL "$busy_pid"; wait "$busy_pid" 2>/dev/null
wait_until "the killed client's calls on n1 are cancelled there (n1 idle again)" 30 \
  '[ "$(cli status | awk '"'"'$1 == "n1" && $4 == "ready" && $6 == 0'"'"' | wc -l)" = 2 ]'

# -- a head restart: the connected runtime reaches the new head by itself ---------------------------
mkfifo "$work/restart.in"
(cpp restart n1 n3 <"$work/restart.in" >"$work/restart.out" 2>&1; echo $? >"$work/restart.code") &
pids+=($!)
exec 7>"$work/restart.in"
wait_until "the restart client called n1 and n3" 60 'grep -q "^before" "$work/restart.out"'
kill -KILL "$head_pid"; wait "$head_pid" 2>/dev/null
echo killed >&7
wait_until "the restart client worked without the head" 60 'grep -q "^headless" "$work/restart.out"'
start head "$H" head --listen "0.0.0.0:$PORT" --insecure --workers 0; head_pid=$last_pid
all_up
echo restarted >&7; exec 7>&-
wait_until "the restart client finished" 90 '[ -s "$work/restart.code" ]'
cat "$work/restart.out"
check "head restart: direct calls go on, calls through the head get node_down, then the runtime reconnects" \
  '[ "$(cat "$work/restart.code")" = 0 ] && ! grep -q FAIL "$work/restart.out"'

# lost_while_sending NAME NODE SIGNAL: a client with long calls on NODE and quick
# calls everywhere; NODE gets SIGNAL once the long calls run.
lost_while_sending() {
  local name=$1 node=$2 victim=$3 sig=$4
  (cpp lost "$node" >"$work/$name.out" 2>&1; echo $? >"$work/$name.code") &
  pids+=($!)
  wait_until "long calls run on $node" 60 'grep -q "^running" "$work/$name.out"'
  kill "-$sig" "$victim"
  wait_until "the $name client finished" 90 '[ -s "$work/$name.code" ]'
  cat "$work/$name.out"
}

# -- a node SIGKILLed while the client sends straight to it ----------------------------------------
lost_while_sending killed n1 "$n1_pid" KILL
check "n1 SIGKILLed: every call one reply, its long calls node_down" \
  '[ "$(cat "$work/killed.code")" = 0 ] && ! grep -q FAIL "$work/killed.out"'

# -- a node frozen (SIGSTOP) while the client sends straight to it ---------------------------------
lost_while_sending frozen n2 "$n2_pid" STOP
check "n2 SIGSTOPped: every call one reply, its long calls node_down (heartbeats)" \
  '[ "$(cat "$work/frozen.code")" = 0 ] && ! grep -q FAIL "$work/frozen.out"'
kill -KILL "$n2_pid"; kill -CONT "$n2_pid" 2>/dev/null; wait "$n2_pid" 2>/dev/null

# -- the end: nothing left behind ------------------------------------------------------------------
kill -TERM "$n3_pid" "$head_pid"
wait_until "n3 and the head stopped on SIGTERM" 20 '! alive "$n3_pid" && ! alive "$head_pid"'
for ns in "$H" "$N1" "$N2"; do
  wait_until "no process left in $ns (no orphaned workers)" 20 '[ -z "$(ip netns pids "$ns")" ]'
done
echo "failures: $failures"
[ "$failures" -eq 0 ]
