#!/bin/bash
# `pyactor up CONFIG [--detach]` and `pyactor down CONFIG` with real head and
# node processes. Needs root (CI runs as root): the local cluster runs in a
# network namespace of its own (its loopback, so no port of the machine is
# taken), and a cluster across namespaces joined by veth pairs. Every
# namespace, link and process it creates is removed on exit, also on failure.
#
#   ns H (up, head; 10.249.0.1 on lo) --veth-- ns N1 (node n1, 10.249.1.2)
#                                     --veth-- ns N2 (node n2, 10.249.2.2)
set -u
PYACTOR=${1:?usage: cluster_up_test.sh PATH/TO/pyactor SOURCE_DIR}
SRC=${2:?usage: cluster_up_test.sh PATH/TO/pyactor SOURCE_DIR}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root and iproute2 (ip netns)"; exit 77
fi
tag="pu$$"                      # unique per run: namespaces and links
L="$tag-l"; H="$tag-h"; N1="$tag-n1"; N2="$tag-n2"
work=$(mktemp -d /tmp/pyactor-up.XXXXXX)
export XDG_RUNTIME_DIR=$work    # default pid files go here, not into the user's /tmp
pids=()                         # every process the script starts itself
# Everything `up` starts runs in the script's namespaces: cleanup kills what is left there.
failures=0

# pids_of FILE: the pids a pid file lists (up, head, nodes).
pids_of() { awk '$1 == "up" || $1 == "head" || $1 == "node" {print $3}' "$1" 2>/dev/null; }
. "$(dirname "$0")/cluster_test_lib.sh"
# fail, check, wait_until, stop_started, remove_namespaces, keep_logs_on_failure, star_network
cleanup() {
  stop_started
  remove_namespaces "$L" "$H" "$N1" "$N2"
  keep_logs_on_failure
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# alive PID: running, not a zombie (a detached `up` is reparented to an init that may not reap).
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^[ZX]'; }
all_gone() { for p in "$@"; do alive "$p" && return 1; done; return 0; }

ip netns add "$L" || exit 1; ip -n "$L" link set lo up
star_network 10.249 "$H" "$N1" "$N2" || exit 1
inl() { timeout 120 ip netns exec "$L" "$PYACTOR" "$@"; }
LOCAL=$SRC/config/cluster-local.ini

# -- up --detach, status, broadcast, down ------------------------------------------------
inl up "$LOCAL" --detach >"$work/detach.out" 2>"$work/detach.err"
code=$?
check "up --detach exits 0 once the cluster is up" '[ "$code" = 0 ]'
cat "$work/detach.out"
pidfile=$(ls "$work"/pyactor-up-cluster-local-*.pid 2>/dev/null)
check "the pid file is under \$XDG_RUNTIME_DIR, named after the config" '[ -f "$pidfile" ]'
check "up printed the cluster table (3 nodes up)" \
  '[ "$(grep -cE "^(head|n1|n2) +[^ ]+ +up " "$work/detach.out")" = 3 ]'
up_pid=$(awk '$1 == "up" {print $3}' "$pidfile")
cluster_pids=$(pids_of "$pidfile")
check "the pid file lists up, head, n1 and n2" '[ "$(echo $cluster_pids | wc -w)" = 4 ]'
check "the detached up process runs" 'alive "$up_pid"'
status=$(inl --connect 127.0.0.1:7420 status)
echo "$status"
check "status --connect: head, n1 and n2 up" \
  '[ "$(echo "$status" | grep -cE "^(head|n1|n2) +[^ ]+ +up ")" = 3 ]'
out=$(inl --connect 127.0.0.1:7420 broadcast os.getpid)
echo "$out"
check "broadcast --connect: one result per worker (head/1 n1/1 n1/2 n2/1 n2/2)" \
  '[ "$(echo "$out" | cut -d: -f1 | tr "\n" " ")" = "head/1 n1/1 n1/2 n2/1 n2/2 " ]'
workers=$(echo "$out" | cut -d' ' -f2)
check "5 distinct worker pids" '[ "$(echo "$workers" | sort -u | wc -l)" = 5 ]'

inl up "$LOCAL" >"$work/twice.out" 2>&1; code=$?
check "up twice: exit 2" '[ "$code" = 2 ]'
check "up twice: says already running, pid N" \
  'grep -q "is already running (pid $up_pid" "$work/twice.out"'
check "up twice left the running cluster alone" 'alive "$up_pid" && [ -f "$pidfile" ]'

inl down "$LOCAL" >"$work/down.out" 2>&1; code=$?
cat "$work/down.out"
check "down exits 0" '[ "$code" = 0 ]'
check "down reports up, head, n1 and n2 stopped" \
  '[ "$(grep -cE "^  (up|head|node n1|node n2) \(pid [0-9]+\): stopped$" "$work/down.out")" = 4 ]'
check "down: up, head and nodes are gone (by pid)" 'all_gone $cluster_pids'
wait_until "down: no worker process left" 10 'all_gone $workers'
check "down removed the pid file" '[ ! -e "$pidfile" ]'
inl down "$LOCAL" >"$work/down2.out" 2>&1; code=$?
check "down with no cluster running: exit 2" '[ "$code" = 2 ]'
check "down with no cluster running: says so" 'grep -q "no cluster of .* is running: no pid file" "$work/down2.out"'

# -- foreground up, stopped with SIGTERM --------------------------------------------------
ip netns exec "$L" "$PYACTOR" up "$LOCAL" >"$work/fg.out" 2>&1 &
fg_pid=$!; pids+=("$fg_pid")
wait_until "foreground up: the cluster is up" 60 'grep -q "is up" "$work/fg.out"'
cluster_pids=$(pids_of "$pidfile")
workers=$(inl --connect 127.0.0.1:7420 broadcast os.getpid | cut -d' ' -f2); check "foreground up: 5 workers" '[ "$(echo $workers | wc -w)" = 5 ]'
kill -TERM "$fg_pid"
wait "$fg_pid"; code=$?
check "foreground up stopped by SIGTERM exits 0" '[ "$code" = 0 ]'
check "SIGTERM: head and nodes are gone (by pid)" 'all_gone $cluster_pids'
wait_until "SIGTERM: no worker process left" 10 'all_gone $workers'
check "SIGTERM: the pid file is removed" '[ ! -e "$pidfile" ]'

# -- the up process SIGKILLed: its children stop by themselves ----------------------------
inl up "$LOCAL" --detach >/dev/null 2>&1
up_pid=$(awk '$1 == "up" {print $3}' "$pidfile")
cluster_pids=$(pids_of "$pidfile")
workers=$(inl --connect 127.0.0.1:7420 broadcast os.getpid | cut -d' ' -f2); kill -KILL "$up_pid"
wait_until "up SIGKILLed: head and nodes stop (SIGTERM on their parent's death)" 30 \
  'all_gone $cluster_pids'
wait_until "up SIGKILLed: no worker process left" 10 'all_gone $workers'
inl down "$LOCAL" >"$work/stale.out" 2>&1; code=$?
check "down after that: the stale pid file, exit 2" \
  '[ "$code" = 2 ] && grep -q "was stale (pid $up_pid is gone); removed it" "$work/stale.out"'
check "the stale pid file is removed" '[ ! -e "$pidfile" ]'

# -- a stale pid file whose pid is another process (a recycled pid) -------------------------
sleep 300 & other=$!; pids+=("$other")
printf 'config %s\nup - %s 1\nhead head %s 2\n' "$LOCAL" "$other" "$other" >"$pidfile"
inl down "$LOCAL" >"$work/recycled.out" 2>&1; code=$?
check "down with a recycled pid: exit 2, stale" \
  '[ "$code" = 2 ] && grep -q "was stale" "$work/recycled.out"'
check "down did not touch the process that got the pid" 'alive "$other"'
printf 'config %s\nup - %s 1\n' "$LOCAL" "$other" >"$pidfile"
inl up "$LOCAL" --detach >"$work/recycled-up.out" 2>&1; code=$?
check "up over a stale pid file: removes it and starts (exit 0)" \
  '[ "$code" = 0 ] && grep -q "removing the stale pid file" "$work/recycled-up.out"'
check "and did not touch the process that got the pid" 'alive "$other"'
inl down "$LOCAL" >/dev/null 2>&1; code=$?
check "down after it: exit 0" '[ "$code" = 0 ]'
kill "$other"

# -- bad configs: a clear error, exit 2 ----------------------------------------------------
# bad NAME 'CONFIG TEXT' 'EXPECTED MESSAGE (grep -E)'
bad() {
  printf "$2" >"$work/$1.ini"
  inl up "$work/$1.ini" >"$work/$1.out" 2>&1; local code=$?
  name=$1 pattern=$3
  check "$name: exit 2" '[ "$code" = 2 ]'
  check "$name: says $pattern" 'grep -Eq "$pattern" "$work/$name.out"' || cat "$work/$name.out"
}
C='[cluster]\nlisten = "127.0.0.1:7421"\njoin-timeout = 20s\n'
bad same-node-twice "$C[node.a]\nworkers = 1\n[node.b]\n[node.a]\nworkers = 2\n" \
  'same-node-twice.ini:7: \[node.a\] is given twice \(first on line 4\)'
bad unknown-placeholder "$C[node.a]\nlaunch = \"{pyactor} node --join {head} --name {nmae}\"\n" \
  '\[node.a\] launch: unknown placeholder \{nmae\} \(known: \{pyactor\}, \{head\}, \{name\}, \{workers\}, \{host\}'
bad unknown-key "$C""joins = 3\n[node.a]\n" 'unknown option \[cluster\] joins \(known: listen'
bad duplicate-key "$C""listen = \"127.0.0.1:7422\"\n[node.a]\n" '\[cluster\] listen is set twice'
bad bad-workers "$C[node.a]\nworkers = 0\n" '\[node.a\] workers must be an integer from 1 to 1024, got .0.'
bad bad-listen "[cluster]\nlisten = \"localhost\"\n[node.a]\n" '\[cluster\] listen must be a double-quoted "ADDR:PORT"'
bad no-nodes "$C" 'no \[node.NAME\] section'
bad node-named-head "$C[node.head]\n" '\[node.head\]: a node name is'
bad unknown-section "$C[nodes.a]\n" 'unknown section \[nodes\]'
check "no pid file was left by a refused config" '[ -z "$(ls "$work"/*.pid 2>/dev/null)" ]'

# A launch command that fails at once: up names the node and why, before join-timeout.
printf "$C[node.good]\nworkers = 1\n[node.broken]\nlaunch = \"echo preparing {name}; no-such-program-xyz --join {head}\"\n" \
  >"$work/launch-fails.ini"
inl up "$work/launch-fails.ini" >"$work/launch-fails.out" 2>&1; code=$?
check "launch fails: exit 2" '[ "$code" = 2 ]'
check "launch fails: names the node, its exit code and its last line" \
  'grep -q "node broken: its launch command exited with code 127; its last line: .*no-such-program-xyz: command not found" "$work/launch-fails.out"'
check "launch fails: reported before join-timeout (20 s)" 'grep -q "their launch commands failed" "$work/launch-fails.out"'
check "launch fails: the head and node good were stopped" \
  'grep -q "stopped the head (pid [0-9]*), node good (pid [0-9]*)" "$work/launch-fails.out"'
check "launch fails: nothing left (by pid)" 'all_gone $(grep -o "pid [0-9]*" "$work/launch-fails.out" | cut -d" " -f2)'
check "launch fails: the pid file is removed" '[ -z "$(ls "$work"/*.pid 2>/dev/null)" ]'

# A node that runs but never joins: named after join-timeout.
printf '[cluster]\nlisten = "127.0.0.1:7423"\njoin-timeout = 3s\n[node.lost]\nlaunch = "{pyactor} node --join 127.0.0.1:9 --name {name} --workers 1"\n' \
  >"$work/never-joins.ini"
inl up "$work/never-joins.ini" >"$work/never-joins.out" 2>&1; code=$?
check "never joins: exit 2 after join-timeout" '[ "$code" = 2 ] && grep -q "did not join within join-timeout 3 s" "$work/never-joins.out"'
check "never joins: names the node and says it still ran" \
  'grep -q "node lost: its launch command (pid [0-9]*) still runs but the node did not join" "$work/never-joins.out"'
check "never joins: nothing left (by pid)" 'all_gone $(grep -o "pid [0-9]*" "$work/never-joins.out" | cut -d" " -f2)'

# -- mutual TLS from the config (pyactor certs); the shipped example parses ----------------
"$PYACTOR" certs "$work/certs" head client >/dev/null 2>&1
printf '[cluster]\nlisten = "127.0.0.1:7430"\nca = "certs/ca.pem"\ncert = "certs/head.pem"\nkey = "certs/head.key"\n[node.t1]\nworkers = 1\n' \
  >"$work/tls.ini"
inl up "$work/tls.ini" --detach >"$work/tls.out" 2>&1; code=$?
check "tls: up --detach exits 0" '[ "$code" = 0 ]' || cat "$work/tls.out"
check "tls: the head listens with mutual TLS" 'grep -q "(mutual TLS)" "$work/tls.out"'
tls_client() { inl --connect 127.0.0.1:7430 --ca "$work/certs/ca.pem" --cert "$work/certs/client.pem" --key "$work/certs/client.key" "$@"; }
# (a client's TLS handshake stalls CAF 0.17's head and can drop a node, which rejoins: README)
wait_until "tls: node t1 is up (status with a client certificate)" 30 \
  'tls_client status | grep -Eq "^t1 +[^ ]+ +up "'
check "tls: a plaintext client is refused" '! inl --connect 127.0.0.1:7430 status >/dev/null 2>&1'
inl down "$work/tls.ini" >/dev/null 2>&1; code=$?
check "tls: down exits 0" '[ "$code" = 0 ]'
mkdir -p "$work/example/config"
cp "$SRC/config/cluster-example.ini" "$work/example/config/"
inl down "$work/example/config/cluster-example.ini" >"$work/example.out" 2>&1
check "example config without its certificates: names the TLS file" \
  'grep -q "cannot read TLS file .*/certs/ca.pem" "$work/example.out"'
"$PYACTOR" certs "$work/example/certs" head >/dev/null 2>&1
inl down "$work/example/config/cluster-example.ini" >"$work/example.out" 2>&1
check "example config with certificates (pyactor certs): valid (down: nothing running)" \
  'grep -q "no cluster of .*cluster-example.ini is running" "$work/example.out"'

# -- across namespaces: launch templates with ip netns exec -----------------------------------
ip -n "$H" addr add 10.249.0.1/32 dev lo   # the head's address, reached from both nodes
ip -n "$N1" route add 10.249.0.1/32 via 10.249.1.1
ip -n "$N2" route add 10.249.0.1/32 via 10.249.2.1
cat >"$work/netns.ini" <<EOF
[cluster]
listen = "0.0.0.0:7500"
head-address = "10.249.0.1:7500"
insecure = true
workers = 1
join-timeout = 90s
[node.n1]
workers = 2
launch = "ip netns exec $N1 {pyactor} node --join {head} --name {name} --workers {workers} --insecure"
[node.n2]
workers = 2
launch = "ip netns exec $N2 {pyactor} node --join {head} --name {name} --workers {workers} --insecure"
EOF
inh() { timeout 120 ip netns exec "$H" "$PYACTOR" "$@"; }
inh up "$work/netns.ini" --detach >"$work/netns.out" 2>&1; code=$?
check "netns: up --detach exits 0" '[ "$code" = 0 ]' || cat "$work/netns.out"
status=$(inh --connect 127.0.0.1:7500 status)
echo "$status"
check "netns: n1 joined from its namespace's address" 'echo "$status" | grep -Eq "^n1 +10\.249\.1\.2:[0-9]+ +up "'
check "netns: n2 joined from its namespace's address" 'echo "$status" | grep -Eq "^n2 +10\.249\.2\.2:[0-9]+ +up "'
out=$(inh --connect 127.0.0.1:7500 broadcast os.getpid)
check "netns: broadcast, one result per worker (5)" \
  '[ "$(echo "$out" | cut -d: -f1 | tr "\n" " ")" = "head/1 n1/1 n1/2 n2/1 n2/2 " ]'
check "netns: the nodes run in their namespaces" \
  '[ -n "$(ip netns pids "$N1")" ] && [ -n "$(ip netns pids "$N2")" ]'
inh down "$work/netns.ini" >"$work/netns-down.out" 2>&1; code=$?
cat "$work/netns-down.out"
check "netns: down exits 0 and stopped up, head, n1, n2" \
  '[ "$code" = 0 ] && [ "$(grep -c ": stopped$" "$work/netns-down.out")" = 4 ]'
for ns in "$H" "$N1" "$N2" "$L"; do
  wait_until "namespace $ns has no process left" 10 '[ -z "$(ip netns pids "$ns")" ]' ||
    for p in $(ip netns pids "$ns"); do echo "  left: $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
done

echo "$failures failures"
[ "$failures" -eq 0 ]
