#!/bin/sh
# Runs COMMAND with a private epmd on loopback (a port of its own, exported
# as ERL_EPMD_PORT), then stops that epmd and every gateway recorded in
# $WORK_DIR/gateway.pids by pid, also on failure:
#   with_private_epmd.sh WORK_DIR COMMAND [ARGS...]
set -u
work_dir=$1
shift
mkdir -p "$work_dir"
pids_file="$work_dir/gateway.pids"
: > "$pids_file"
epmd_pid=""

cleanup() {
  while read -r pid; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done < "$pids_file"
  if [ -n "$epmd_pid" ]; then
    kill "$epmd_pid" 2>/dev/null
    wait "$epmd_pid" 2>/dev/null
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# epmd exits at once when its port is taken; `epmd -names` answers once it is up.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
  epmd -port "$port" -address 127.0.0.1 &
  epmd_pid=$!
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$epmd_pid" 2>/dev/null || break
    epmd -port "$port" -names >/dev/null 2>&1 && break 2
    sleep 0.1
  done
  kill "$epmd_pid" 2>/dev/null
  wait "$epmd_pid" 2>/dev/null
  epmd_pid=""
done
[ -n "$epmd_pid" ] || { echo "with_private_epmd: cannot start epmd" >&2; exit 1; }

export ERL_EPMD_PORT=$port
export ERL_EPMD_ADDRESS=127.0.0.1
export PYACTOR_TEST_PIDS="$pids_file"
export PYACTOR_TEST_WORKDIR="$work_dir"
"$@"
