#!/bin/sh
# A gateway with real workers, and stall_peer.cpp's two C-nodes against it:
# a peer that stalls mid-frame, or does not read its replies, holds up nobody.
#   run_stall.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export STALL_BIN="$1"
export STALL_WORK="$2"
exec "$here/with_private_epmd.sh" "$2" sh -c '
  set -eu
  cookie=stall_$$
  "$STALL_BIN/pyactor" bridge --sname "stall_gw_$$" --cookie "$cookie" --workers 2 \
      > "$STALL_WORK/gateway.out" 2> "$STALL_WORK/gateway.err" &
  gw=$!
  echo $gw >> "$PYACTOR_TEST_PIDS"
  i=0
  until grep -q "^ready " "$STALL_WORK/gateway.out"; do
    kill -0 $gw || { cat "$STALL_WORK/gateway.err" >&2; exit 1; }
    i=$((i + 1)); [ $i -lt 600 ] || { echo "gateway did not start" >&2; exit 1; }
    sleep 0.1
  done
  node=$(sed -n "s/^ready //p" "$STALL_WORK/gateway.out")
  status=0
  "$STALL_BIN/pyactor-erlbridge-stall-peer" "$node" "$cookie" || status=$?
  kill -TERM $gw
  wait $gw || status=1
  [ $status -eq 0 ] || cat "$STALL_WORK/gateway.err" >&2
  exit $status
'
