#!/bin/sh
# `pyactor bridge --connect HEAD` (ctest erlbridge.connect): a real `pyactor
# head` and `pyactor node` (2 workers) on loopback, a gateway serving that
# cluster, and a real `erl` node calling py:func through it: the calls run on
# the node's workers. Everything is stopped by pid, also on failure.
#   run_connect.sh BIN_DIR WORK_DIR SOURCE_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inner ]; then
  exec "$here/with_private_epmd.sh" "$2" "$0" --inner "$1" "$2" "$3"
fi
bin=$2
work=$3
src=$4
cookie=connect_$$
. "$here/gateway_lib.sh"
stop() { # PID WHAT: SIGTERM, then the exit code must be 0
  stop_gateway "$1"
  check "$2 stops cleanly on SIGTERM (exit $stop_code)" '[ $stop_code = 0 ]'
}

# The head on a free loopback port (another may take it first: try again).
for attempt in 1 2 3 4 5; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
  "$bin/pyactor" head --listen "127.0.0.1:$port" > "$work/head.out" 2>&1 &
  head=$!
  echo $head >> "$PYACTOR_TEST_PIDS"
  if await "$work/head.out" "listening on" $head; then break; fi
  wait $head || true
  head=""
done
[ -n "$head" ] || { echo "FAIL: cannot start pyactor head"; exit 1; }
"$bin/pyactor" node --join "127.0.0.1:$port" --name n1 --workers 2 > "$work/node.out" 2>&1 &
node=$!
echo $node >> "$PYACTOR_TEST_PIDS"
await "$work/node.out" "joined the head" $node || exit 1
# The node's worker pids, once the head reports both ready (the node says
# it joined before the head has its workers).
i=0
while :; do
  "$bin/pyactor" --connect "127.0.0.1:$port" status > "$work/status.out" 2>&1 || true
  awk '$1 == "n1" && $4 == "ready" {print $3}' "$work/status.out" | sort > "$work/workers.txt"
  [ "$(wc -l < "$work/workers.txt")" = 2 ] && break
  i=$((i + 1)); [ $i -lt 600 ] || break # a hang guard only
  sleep 0.1
done
check "the cluster has n1 with 2 ready workers" '[ "$(wc -l < "$work/workers.txt")" = 2 ]'
"$bin/pyactor" --connect "127.0.0.1:$port" bridge --sname "connect_gw_$$" --cookie "$cookie" \
    > "$work/gateway.out" 2> "$work/gateway.err" &
gw=$!
echo $gw >> "$PYACTOR_TEST_PIDS"
await "$work/gateway.out" "^ready " $gw || { cat "$work/gateway.err"; exit 1; }
gw_node=$(sed -n "s/^ready //p" "$work/gateway.out")

compile_client "$src" "$work/ebin"
erl -noshell -sname "connect_caller_$$" -setcookie "$cookie" -pa "$work/ebin" -eval "
  Node = list_to_atom(\"$gw_node\"),
  ok = application:load(pyactor),
  ok = application:set_env(pyactor, bridge_node, Node),
  {ok, _} = application:ensure_all_started(pyactor),
  io:format(\"add ~p~n\", [py:func(operator, add, [40, 2])]),
  [io:format(\"pid ~p~n\", [py:func(os, getpid, [])]) || _ <- lists:seq(1, 20)],
  io:format(\"sqrt ~p~n\", [py:func(math, sqrt, [16.0])]),
  halt()." > "$work/caller.out" 2>&1 || true
cat "$work/caller.out"
check "py:func through the gateway: operator.add(40, 2) = 42" 'grep -qx "add 42" "$work/caller.out"'
check "py:func through the gateway: math.sqrt(16.0) = 4.0" 'grep -qx "sqrt 4.0" "$work/caller.out"'
sed -n "s/^pid //p" "$work/caller.out" | sort -u > "$work/pids.txt"
check "20 os.getpid calls answered" '[ "$(grep -c "^pid [0-9]" "$work/caller.out")" = 20 ]'
check "every call ran on a worker of node n1 ($(tr "\n" " " < "$work/pids.txt"))" \
  '[ -s "$work/pids.txt" ] && [ -z "$(comm -23 "$work/pids.txt" "$work/workers.txt")" ]'

stop $gw "the gateway"
stop $node "the node"
stop $head "the head"
[ $failures = 0 ] || { tail -n 20 "$work"/*.out "$work"/*.err; exit 1; }
echo "all bridge --connect checks passed"
