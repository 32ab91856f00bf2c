#!/bin/sh
# The Elixir wrapper's ExUnit tests against real gateways and workers, built
# with Debian's elixir and rebar3 (no downloads):
#   run_exunit.sh BIN_DIR WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PYACTOR_BIN="$1/pyactor"
export MIX_BUILD_PATH="$2/mix"
export MIX_REBAR3=/usr/bin/rebar3
export MIX_HOME="$2/mix_home"
export HEX_OFFLINE=1
cd "$here/../elixir"
exec "$here/with_private_epmd.sh" "$2" mix test --no-start
