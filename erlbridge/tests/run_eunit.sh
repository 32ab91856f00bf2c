#!/bin/sh
# The Erlang client's EUnit tests against real gateways and workers:
#   run_eunit.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PYACTOR_BIN="$1/pyactor"
export REBAR_BASE_DIR="$2/rebar"
cd "$here/../erlang"
exec "$here/with_private_epmd.sh" "$2" rebar3 eunit
