# Shell functions shared by the gateway's test and bench scripts (POSIX sh,
# sourced inside with_private_epmd.sh, which exports PYACTOR_TEST_PIDS):
#   . "$here/gateway_lib.sh"          (tests)
#   . "$root/erlbridge/tests/gateway_lib.sh"   (bench)
# Every process started here is recorded in $PYACTOR_TEST_PIDS, so that
# with_private_epmd.sh stops it by pid, also on failure.

failures=${failures:-0}

# check DESCRIPTION CONDITION: evaluates CONDITION, prints ok/FAIL, counts failures.
check() {
  if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi
}

# await FILE PATTERN PID: until FILE has a line matching PATTERN (PID must
# live meanwhile; a hang guard of 120 s).
await() {
  _i=0
  until grep -q "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { echo "FAIL: process $3 exited before '$2' in $1"; cat "$1"; return 1; }
    _i=$((_i + 1)); [ $_i -lt 1200 ] || { echo "FAIL: no '$2' in $1 (hang guard)"; return 1; }
    sleep 0.1
  done
}

# start_gateway BIN_DIR WORK_DIR NAME COOKIE [BRIDGE ARGS...]: starts
# `pyactor bridge --sname NAME --cookie COOKIE ARGS` with its output in
# WORK_DIR/NAME.out and .err, and waits until it is ready. Sets gw_pid,
# gw_node (its node name) and gw_port (its distribution port). Exits the
# script if it does not start.
start_gateway() {
  _bin=$1; _work=$2; _name=$3; _cookie=$4
  shift 4
  "$_bin/pyactor" bridge --sname "$_name" --cookie "$_cookie" "$@" \
      > "$_work/$_name.out" 2> "$_work/$_name.err" &
  gw_pid=$!
  echo $gw_pid >> "$PYACTOR_TEST_PIDS"
  await "$_work/$_name.out" "^ready " $gw_pid >&2 || { cat "$_work/$_name.err" >&2; exit 1; }
  gw_node=$(sed -n "s/^ready //p" "$_work/$_name.out")
  gw_port=$(sed -n "s/.*(port \([0-9]*\)).*/\1/p" "$_work/$_name.err" | head -n 1)
}

# stop_gateway PID: SIGTERM, then waits; sets stop_code (0 on a clean stop).
stop_gateway() {
  kill -TERM "$1"
  stop_code=0
  wait "$1" || stop_code=$?
}

# compile_client SOURCE_DIR EBIN [EXTRA.erl...]: the Erlang client (and
# extra modules) compiled into EBIN, with its .app file.
compile_client() {
  _src=$1; _ebin=$2
  shift 2
  mkdir -p "$_ebin"
  erlc -o "$_ebin" "$_src"/erlbridge/erlang/src/*.erl "$@"
  cp "$_src/erlbridge/erlang/src/pyactor.app.src" "$_ebin/pyactor.app"
}
