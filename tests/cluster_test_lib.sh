# Shared by the cluster test scripts (sourced, bash): counting checks and
# polling for events a script cannot block on. The caller sets failures=0.

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { if eval "$2"; then echo "ok: $1"; else fail "$1"; fi; }
# wait_until DESCRIPTION SECONDS COMMAND: polls COMMAND every 0.1 s.
wait_until() {
  local what=$1 limit=$2 i=0; shift 2
  while ! eval "$*" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt $((limit * 10)) ]; then fail "timed out waiting for: $what"; return 1; fi
    sleep 0.1
  done
  echo "ok: $what"
}
