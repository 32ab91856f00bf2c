#!/bin/sh
# Runs the Erlang client's EUnit tests against real gateways and workers:
#   run_eunit.sh BIN_DIR WORK_DIR
# A private epmd on loopback (its own port) serves this run only; it and every
# gateway the tests started are stopped by pid at the end, also on failure.
set -u
bin_dir=$1
work_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work_dir"
pids_file="$work_dir/gateway.pids"
: > "$pids_file"
epmd_pid=""

cleanup() {
  while read -r pid; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done < "$pids_file"
  [ -n "$epmd_pid" ] && kill "$epmd_pid" 2>/dev/null && wait "$epmd_pid" 2>/dev/null
}
trap cleanup EXIT INT TERM

# A free port for epmd: epmd exits at once when its port is taken.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
  epmd -port "$port" -address 127.0.0.1 &
  epmd_pid=$!
  if epmd -port "$port" -names >/dev/null 2>&1; then break; fi
  # not up yet, or the port was taken: check again after it had time to bind
  for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$epmd_pid" 2>/dev/null || break
    epmd -port "$port" -names >/dev/null 2>&1 && break 2
    sleep 0.1
  done
  kill "$epmd_pid" 2>/dev/null; wait "$epmd_pid" 2>/dev/null; epmd_pid=""
done
[ -n "$epmd_pid" ] || { echo "run_eunit: cannot start a private epmd" >&2; exit 1; }

export ERL_EPMD_PORT=$port
export ERL_EPMD_ADDRESS=127.0.0.1
export PYACTOR_BIN="$bin_dir/pyactor"
export PYACTOR_TEST_PIDS="$pids_file"
export REBAR_BASE_DIR="$work_dir/rebar"
cd "$here/../erlang" && rebar3 eunit
