#!/bin/sh
# A gateway with real workers, and stall_peer.cpp's two C-nodes against it:
# a peer that stalls mid-frame, or does not read its replies, holds up nobody.
#   run_stall.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inner ]; then
  exec "$here/with_private_epmd.sh" "$2" "$0" --inner "$1" "$2"
fi
bin=$2
work=$3
cookie=stall_$$
. "$here/gateway_lib.sh"
start_gateway "$bin" "$work" "stall_gw_$$" "$cookie" --workers 2
status=0
"$bin/pyactor-erlbridge-stall-peer" "$gw_node" "$cookie" || status=$?
stop_gateway $gw_pid
[ $stop_code = 0 ] || status=1
[ $status -eq 0 ] || cat "$work/stall_gw_$$.err" >&2
exit $status
