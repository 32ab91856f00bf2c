#!/bin/bash
# Every call form of a runtime connected to a cluster (runtime::connect and
# `pyactor --connect ... map`), across "hosts": network namespaces joined by
# veth pairs, real `pyactor head` and `pyactor node` processes. Needs root.
# Every namespace, link and process it creates is removed on exit, also on failure.
#
#   ns H (head + clients, 10.249.1.1 / 10.249.2.1) --veth-- ns N1 (node n1, 10.249.1.2)
#                                                  --veth-- ns N2 (node n2, 10.249.2.2)
set -u
PYACTOR=${1:?usage: cluster_calls_test.sh PATH/TO/pyactor PATH/TO/pyactor-cluster-calls-client}
CLIENT=${2:?usage: cluster_calls_test.sh PATH/TO/pyactor PATH/TO/pyactor-cluster-calls-client}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root and iproute2 (ip netns)"; exit 77
fi
tag="pc$$"                       # unique per run: namespaces and links
H="$tag-h"; N1="$tag-n1"; N2="$tag-n2"
PORT=7500
HEAD="127.0.0.1:$PORT"           # clients run in the head's namespace
work=$(mktemp -d /tmp/pyactor-calls.XXXXXX)
pids=()                          # every process we start
failures=0

. "$(dirname "$0")/cluster_test_lib.sh"
# fail, check, wait_until, stop_started, remove_namespaces, keep_logs_on_failure, star_network
cleanup() {
  exec 7>&- 2>/dev/null
  stop_started
  remove_namespaces "$H" "$N1" "$N2"
  keep_logs_on_failure
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# -- network -------------------------------------------------------------------------------
star_network 10.249 "$H" "$N1" "$N2" || exit 1

# -- the Python the workers run ----------------------------------------------------------------
cat >"$work/probe.py" <<'PY'
import os, time

def sleep_marked(path, seconds):
    """Writes `path`.started once inside its try block, then sleeps; writes
    `path` when interrupted (KeyboardInterrupt), then re-raises."""
    try:
        open(path + ".started", "w").close()
        time.sleep(seconds)
    except KeyboardInterrupt:
        with open(path, "w") as f:
            f.write("interrupted %d\n" % os.getpid())
        raise
    return "slept"

def echo_node(i):
    """[i, pid of the node process that runs this worker], a little later;
    appends i to $PROBE_PROGRESS (the test counts the items run)."""
    time.sleep(0.02)
    with open(os.environ["PROBE_PROGRESS"], "a") as f:
        f.write("%d\n" % i)
    return [i, os.getppid()]
PY
export PYTHONPATH="$work"
export PROBE_PROGRESS="$work/progress"

# -- helpers -------------------------------------------------------------------------------
cli() { timeout 120 ip netns exec "$H" "$PYACTOR" --connect "$HEAD" "$@"; }
cpp() { timeout 120 ip netns exec "$H" "$CLIENT" "$HEAD" "$@"; }
ready_workers() { cli status 2>/dev/null | awk -v n="$1" '$1 == n && $4 == "ready"' | wc -l; }
node_down() { cli status 2>/dev/null | grep -Eq "^$1 .* down "; }
alive() { kill -0 "$1" 2>/dev/null; }
start_n1() { start n1 "$N1" node --join "10.249.1.1:$PORT" --name n1 --workers 2 --insecure; n1_pid=$last_pid; }
start_n2() { start n2 "$N2" node --join "10.249.2.1:$PORT" --name n2 --workers 2 --insecure; n2_pid=$last_pid; }
both_up() {
  wait_until "n1 and n2 up with 2 ready workers each" 60 \
    '[ "$(ready_workers n1)" = 2 ] && [ "$(ready_workers n2)" = 2 ]'
}
# check_map FILE N: FILE has N lines, line i is "[i, PPID]" or an error; prints
# "ok errors distinct-ppids"
map_lines() {
  awk -v n="$2" '
    /^\[/ { gsub(/[\[\],]/, " "); if ($1 != NR - 1) bad++; ok++; pp[$2] = 1; next }
    /^error node_down/ { err++; next }
    { bad++ }
    END { if (NR != n) bad++; c = 0; for (k in pp) c++; print ok + 0, err + 0, bad + 0, c }' "$1"
}
items() { seq 0 $(($1 - 1)) | sed 's/.*/[&]/'; }

start head "$H" head --listen "0.0.0.0:$PORT" --insecure --workers 1; head_pid=$last_pid
start_n1; start_n2
both_up

# -- every call form across the nodes --------------------------------------------------------
cpp broadcast 5 >"$work/broadcast.out" 2>&1; code=$?
cat "$work/broadcast.out"
check "broadcast: one result per worker of every node (runtime::connect)" \
  '[ $code = 0 ] && ! grep -q FAIL "$work/broadcast.out" && grep -q "5 replies" "$work/broadcast.out"'
cpp forms >"$work/forms.out" 2>&1; code=$?
cat "$work/forms.out"
check "call forms, timeout, scatter/gather, streamed starmap, batch, pinned calls" \
  '[ $code = 0 ] && ! grep -q FAIL "$work/forms.out"'
items 120 | cli map probe.echo_node --from - --chunk 3 >"$work/map.out" 2>"$work/map.log"; code=$?
read -r ok err bad nodes <<<"$(map_lines "$work/map.out" 120)"
check "map --connect: 120 results in order ($ok ok, $bad wrong)" '[ $code = 0 ] && [ $ok = 120 ] && [ $bad = 0 ]'
check "map --connect ran on the workers of all 3 nodes ($nodes)" '[ "$nodes" = 3 ]'

# -- cancel reaches the remote worker ------------------------------------------------------------
cpp cancel "$work/mark" >"$work/cancel.out" 2>&1; code=$?
cat "$work/cancel.out"
check "cancel of a running remote call answers cancelled" '[ $code = 0 ] && grep -q "ok: cancelled" "$work/cancel.out"'
wait_until "KeyboardInterrupt reached the worker running it" 10 'grep -q interrupted "$work/mark"'
# A client killed while its call runs: the head cancels the orphaned call on its node.
ip netns exec "$H" "$CLIENT" "$HEAD" hold "$work/mark2" >"$work/hold.out" 2>&1 &
hold_pid=$!; pids+=("$hold_pid")
wait_until "the held call runs on a worker" 30 'grep -q running "$work/hold.out"'
kill -KILL "$hold_pid"; wait "$hold_pid" 2>/dev/null
wait_until "a SIGKILLed client's running call is interrupted on its node" 15 \
  'grep -q interrupted "$work/mark2"'

# map_while_killing NAME PID [MAP OPTIONS...]: a 400-item map through the head
# (output in $work/NAME.out, exit code in NAME.code); PID is SIGKILLed once the
# workers ran 40 items (counted in $PROBE_PROGRESS, not in the map's output,
# which is block-buffered), and it returns when the map has finished.
map_while_killing() {
  local name=$1 victim=$2; shift 2
  map_out="$work/$name.out"; map_code="$work/$name.code"
  : >"$PROBE_PROGRESS"
  (items 400 | cli map probe.echo_node --from - --chunk 4 "$@" >"$map_out" 2>"$work/$name.log"
   echo $? >"$map_code") &
  pids+=($!)
  wait_until "the $name map is under way" 60 '[ "$(wc -l <"$PROBE_PROGRESS")" -ge 40 ]'
  kill -KILL "$victim"
  wait_until "the $name map finished" 120 '[ -s "$map_code" ]'
}

# -- a node SIGKILLed during a map, with --retry ---------------------------------------------------
map_while_killing retry "$n1_pid" --retry
read -r ok err bad nodes <<<"$(map_lines "$work/retry.out" 400)"
check "map --retry: every item exactly once, in order, all succeeded ($ok ok, $err node_down, $bad wrong)" \
  '[ "$(cat "$work/retry.code")" = 0 ] && [ $ok = 400 ] && [ $err = 0 ] && [ $bad = 0 ]'
wait_until "n1 is down" 20 'node_down n1'
start_n1; both_up

# -- the same without --retry --------------------------------------------------------------------
map_while_killing noretry "$n2_pid"
read -r ok err bad nodes <<<"$(map_lines "$work/noretry.out" 400)"
check "map without --retry: lost items get node_down, the rest succeed ($ok ok, $err node_down, $bad wrong)" \
  '[ "$(cat "$work/noretry.code")" = 1 ] && [ $err -ge 1 ] && [ $((ok + err)) = 400 ] && [ $bad = 0 ]'
wait_until "n2 is down" 20 'node_down n2'
start_n2; both_up

# -- an object reference used after its node died ------------------------------------------------
mkfifo "$work/stale.in"
(cpp stale n1 <"$work/stale.in" >"$work/stale.out" 2>&1; echo $? >"$work/stale.code") &
pids+=($!)
exec 7>"$work/stale.in"
wait_until "the reference works on n1" 60 'grep -q "^KILL n1" "$work/stale.out"'
kill -KILL "$n1_pid"
wait_until "n1 is down" 20 'node_down n1'
echo dead >&7; exec 7>&-
wait_until "the stale-reference client finished" 60 '[ -s "$work/stale.code" ]'
cat "$work/stale.out"
check "a reference whose node died gets stale_ref; other nodes serve" \
  '[ "$(cat "$work/stale.code")" = 0 ] && grep -q "ok: the reference after its node died: error stale_ref" "$work/stale.out"'

# -- add/remove workers on a node, remove_node -----------------------------------------------------
cpp manage n2 >"$work/manage.out" 2>&1; code=$?
cat "$work/manage.out"
check "add_workers/remove_workers on n2, remove_node(n2) after its call finished" \
  '[ $code = 0 ] && ! grep -q FAIL "$work/manage.out"'
wait_until "the removed node's process stopped" 20 '! alive "$n2_pid"'
check "status shows n2 removed" 'cli status | grep -Eq "^n2 .* down .*removed"'

# -- the end: stop the head, nothing left behind ----------------------------------------------------
kill -TERM "$head_pid"
wait_until "the head stopped on SIGTERM" 20 '! alive "$head_pid"'
for ns in "$H" "$N1" "$N2"; do
  wait_until "no process left in $ns (no orphaned workers)" 20 '[ -z "$(ip netns pids "$ns")" ]'
done
echo "failures: $failures"
[ "$failures" -eq 0 ]
