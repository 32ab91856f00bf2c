#!/bin/sh
# A peer that stalls in the distribution handshake delays no other connection
# (ctest erlbridge.handshake). Three TCP peers stall in their handshakes with
# a gateway whose handshake deadline is far away (10 min) while a real `erl`
# node connects and calls through it: it is served, and the stalled peers are
# still open afterwards (the old one-handshake-at-a-time acceptor made that
# node wait behind them past its net_setuptime). A second gateway, with a
# 300 ms deadline, closes a stalled peer by itself. A third one has 64
# handshakes in progress (its limit): a 65th connection is refused (closed at
# once, with a log line), and once the 64 peers go away a real node connects.
#   run_handshake.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inner ]; then
  exec "$here/with_private_epmd.sh" "$2" "$0" --inner "$1" "$2"
fi
bin=$2
work=$3
cookie=hs_$$
. "$here/gateway_lib.sh"
stop() { # PID WHAT
  stop_gateway "$1"
  check "gateway $2 stops cleanly on SIGTERM (exit $stop_code)" '[ $stop_code = 0 ]'
}

# -- stalled handshakes next to a real Erlang node ---------------------------
start_gateway "$bin" "$work" "hs_gw_$$" "$cookie" --workers 1 --handshake-timeout 600000
hold_gw=$gw_pid
rm -f "$work/hold.in"; mkfifo "$work/hold.in"
exec 3<>"$work/hold.in"
/usr/bin/python3 "$here/stalled_peers.py" "$gw_port" hold < "$work/hold.in" > "$work/hold.out" &
hold=$!
echo $hold >> "$PYACTOR_TEST_PIDS"
await "$work/hold.out" "^stalled" $hold || exit 1
erl -noshell -sname "hs_caller_$$" -setcookie "$cookie" -eval "
  Node = list_to_atom(\"$gw_node\"),
  R1 = net_kernel:connect_node(Node),
  R2 = catch gen_server:call({py, Node}, ping, 60000),
  R3 = catch gen_server:call({py, Node}, {func, operator, add, [1, 2], [], #{}}, 60000),
  io:format(\"~p ~p ~p~n\", [R1, R2, R3]),
  halt()." > "$work/caller.out" 2>&1 || true
cat "$work/caller.out"
check "an erl node connects and calls while 3 peers stall in their handshakes" \
  'grep -qx "true {ok,pong} {ok,3}" "$work/caller.out"'
echo check >&3
await "$work/hold.out" "^open " $hold || exit 1
check "the stalled peers are still in their handshakes afterwards (3 open)" \
  'grep -qx "open 3" "$work/hold.out"'
stop $hold_gw "hs_gw (3 handshakes in progress)"
echo done >&3
wait $hold || true
exec 3>&-

# -- a stalled handshake is cut at its deadline --------------------------------
start_gateway "$bin" "$work" "hs_cut_$$" "$cookie" --workers 1 --handshake-timeout 300
cut_gw=$gw_pid
/usr/bin/python3 "$here/stalled_peers.py" "$gw_port" cut > "$work/cut.out" &
cut=$!
echo $cut >> "$PYACTOR_TEST_PIDS"
wait $cut || true
check "the gateway closes a peer stalled past the handshake deadline" \
  'grep -qx closed "$work/cut.out"'
check "and says so" 'grep -q "handshake did not finish within 300 ms" "$work/hs_cut_$$.err"'
erl -noshell -sname "hs_caller2_$$" -setcookie "$cookie" -eval "
  Node = list_to_atom(\"$gw_node\"),
  io:format(\"~p~n\", [catch gen_server:call({py, Node}, ping, 60000)]),
  halt()." > "$work/caller2.out" 2>&1 || true
check "that gateway serves an erl node afterwards" 'grep -qx "{ok,pong}" "$work/caller2.out"'
stop $cut_gw hs_cut

# -- 64 handshakes in progress: the next connection is refused -----------------
# The acceptor takes connections in the order they queued, so the 65th is
# accepted after the 64 stalled ones: it meets the full table, whatever the timing.
start_gateway "$bin" "$work" "hs_full_$$" "$cookie" --workers 1 --handshake-timeout 600000
full_gw=$gw_pid
rm -f "$work/full.in"; mkfifo "$work/full.in"
exec 4<>"$work/full.in"
/usr/bin/python3 "$here/stalled_peers.py" "$gw_port" flood 64 < "$work/full.in" \
    > "$work/full.out" &
flood=$!
echo $flood >> "$PYACTOR_TEST_PIDS"
await "$work/full.out" "^extra " $flood || exit 1
cat "$work/full.out"
check "with 64 handshakes in progress a 65th connection is closed at once" \
  'grep -qx "extra closed" "$work/full.out"'
check "and the gateway says why" \
  'grep -q "refused a connection: 64 handshakes are in progress already" "$work/hs_full_$$.err"'
echo check >&4
await "$work/full.out" "^open " $flood || exit 1
check "the 64 stalled peers are still open (not dropped to make room)" \
  'grep -qx "open 64" "$work/full.out"'
echo done >&4
wait $flood || true
exec 4>&-
# The peers closed their sockets: each handshake fails, and its slot frees.
i=0
until [ "$(grep -c "handshake failed" "$work/hs_full_$$.err")" -ge 64 ]; do
  kill -0 $full_gw || break
  i=$((i + 1)); [ $i -lt 1200 ] || break # a hang guard only
  sleep 0.1
done
check "the gateway notices the 64 peers leave" \
  '[ "$(grep -c "handshake failed" "$work/hs_full_$$.err")" -ge 64 ]'
erl -noshell -sname "hs_caller3_$$" -setcookie "$cookie" -eval "
  Node = list_to_atom(\"$gw_node\"),
  io:format(\"~p~n\", [catch gen_server:call({py, Node}, ping, 60000)]),
  halt()." > "$work/caller3.out" 2>&1 || true
check "then a real erl node connects and is served" 'grep -qx "{ok,pong}" "$work/caller3.out"'
stop $full_gw hs_full

[ $failures = 0 ] || { tail -n 20 "$work"/*.err; exit 1; }
echo "all handshake checks passed"
