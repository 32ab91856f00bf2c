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

# -- processes and namespaces (the script sets tag, work, pids=() and failures) --

# stop_started: SIGKILLs every process the script started ($pids) and reaps it.
# start NAME NS ARGS...: runs PYACTOR ARGS in namespace NS in the background,
# its output appended to $work/NAME.log; its pid (ip execs pyactor, so it is
# pyactor's) goes to last_pid and to pids for stop_started.
start() {
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$PYACTOR" "$@" >>"$work/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}

stop_started() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}

# remove_namespaces NS...: SIGKILLs what still runs in each namespace and
# deletes it, then the veth pairs ${tag}a1 and ${tag}a2 if they are left.
remove_namespaces() {
  local ns p
  for ns in "$@"; do
    if ip netns list | grep -qw "$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  ip link del "${tag}a1" 2>/dev/null; ip link del "${tag}a2" 2>/dev/null
  return 0
}

# keep_logs_on_failure: after a failed check prints the end of $work's logs
# and keeps them; otherwise removes $work.
keep_logs_on_failure() {
  if [ "$failures" -ne 0 ]; then
    echo "---- logs in $work"; tail -n 30 "$work"/*.log "$work"/*.out 2>/dev/null
  else
    rm -rf "$work"
  fi
}

# star_network PREFIX H N1 N2: namespaces H, N1 and N2 (loopback up) and two
# veth pairs: H PREFIX.1.1 -- N1 PREFIX.1.2 and H PREFIX.2.1 -- N2 PREFIX.2.2.
star_network() {
  local net=$1 h=$2 n1=$3 n2=$4 ns
  for ns in "$h" "$n1" "$n2"; do ip netns add "$ns" || return 1; ip -n "$ns" link set lo up; done
  ip link add "${tag}a1" type veth peer name "${tag}b1" || return 1
  ip link add "${tag}a2" type veth peer name "${tag}b2" || return 1
  ip link set "${tag}a1" netns "$h"; ip link set "${tag}b1" netns "$n1"
  ip link set "${tag}a2" netns "$h"; ip link set "${tag}b2" netns "$n2"
  ip -n "$h" addr add "$net.1.1/30" dev "${tag}a1"; ip -n "$n1" addr add "$net.1.2/30" dev "${tag}b1"
  ip -n "$h" addr add "$net.2.1/30" dev "${tag}a2"; ip -n "$n2" addr add "$net.2.2/30" dev "${tag}b2"
  ip -n "$h" link set "${tag}a1" up; ip -n "$n1" link set "${tag}b1" up
  ip -n "$h" link set "${tag}a2" up; ip -n "$n2" link set "${tag}b2" up
}
