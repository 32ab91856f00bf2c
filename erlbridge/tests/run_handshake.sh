#!/bin/sh
# A peer that stalls in the distribution handshake delays no other connection
# (ctest erlbridge.handshake). Three TCP peers stall in their handshakes with
# a gateway whose handshake deadline is far away (10 min) while a real `erl`
# node connects and calls through it: it is served, and the stalled peers are
# still open afterwards (the old one-handshake-at-a-time acceptor made that
# node wait behind them past its net_setuptime). A second gateway, with a
# 300 ms deadline, closes a stalled peer by itself.
#   run_handshake.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inner ]; then
  exec "$here/with_private_epmd.sh" "$2" "$0" --inner "$1" "$2"
fi
bin=$2
work=$3
cookie=hs_$$
failures=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }
# await FILE PATTERN PID: until FILE has a line matching PATTERN (PID must live).
await() {
  i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { echo "FAIL: process $3 exited before '$2' in $1"; cat "$1"; return 1; }
    i=$((i + 1)); [ $i -lt 1200 ] || { echo "FAIL: no '$2' in $1 (hang guard)"; return 1; }
    sleep 0.1
  done
}
# start_gateway NAME HANDSHAKE_MS: sets gw_pid, gw_node and gw_port.
start_gateway() {
  "$bin/pyactor" bridge --sname "$1" --cookie "$cookie" --workers 1 --handshake-timeout "$2" \
      > "$work/$1.out" 2> "$work/$1.err" &
  gw_pid=$!
  echo $gw_pid >> "$PYACTOR_TEST_PIDS"
  await "$work/$1.out" "^ready " $gw_pid || { cat "$work/$1.err"; exit 1; }
  gw_node=$(sed -n "s/^ready //p" "$work/$1.out")
  gw_port=$(sed -n "s/.*(port \([0-9]*\)).*/\1/p" "$work/$1.err")
}
stop_gateway() { # PID NAME
  kill -TERM "$1"
  code=0; wait "$1" || code=$?
  check "gateway $2 stops cleanly on SIGTERM (exit $code)" '[ $code = 0 ]'
}

# -- stalled handshakes next to a real Erlang node ---------------------------
start_gateway "hs_gw_$$" 600000
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
stop_gateway $hold_gw "hs_gw (3 handshakes in progress)"
echo done >&3
wait $hold || true
exec 3>&-

# -- a stalled handshake is cut at its deadline --------------------------------
start_gateway "hs_cut_$$" 300
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
stop_gateway $cut_gw hs_cut

[ $failures = 0 ] || { tail -n 20 "$work"/*.err; exit 1; }
echo "all handshake checks passed"
