#!/bin/bash
# `pyactor up` with an ssh launch template, as config/cluster-example.ini
# shows it: OpenSSH's ssh client against a real ssh server (dropbear: its
# Debian package has no service that starts by itself) on a second "host" (a
# network namespace), the head on the first, mutual TLS between them. Needs
# root (CI runs as root), dropbear-bin and openssh-client (.ci/setup).
# Checks: the node joins through ssh; `down` stops it and its workers on the
# remote host; an ssh client that dies (SIGKILL) hangs the remote node up (SIGHUP),
# which then stops with its workers; a key the remote host refuses is named
# with ssh's own message before join-timeout. Every namespace, link, key and
# process it creates is removed on exit, also on failure.
#
#   ns H (up, head, ssh; 10.251.1.1) --veth-- ns R (dropbear, node r1; 10.251.1.2)
set -u
PYACTOR=${1:?usage: cluster_ssh_test.sh PATH/TO/pyactor}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root and iproute2 (ip netns)"; exit 77
fi
SSH_SERVER=/usr/sbin/dropbear
if [ ! -x "$SSH_SERVER" ] || ! command -v dropbearkey >/dev/null || ! command -v ssh >/dev/null ||
   ! command -v ssh-keygen >/dev/null || ! command -v unshare >/dev/null; then
  echo "SKIP: needs dropbear-bin and openssh-client (sh .ci/setup installs them)"; exit 77
fi
tag="ps$$"                      # unique per run: namespaces and links
H="$tag-h"; R="$tag-r"
work=$(mktemp -d /tmp/pyactor-ssh.XXXXXX)
export XDG_RUNTIME_DIR=$work    # the pid file goes here
pids=()                         # every process the script starts itself
failures=0
. "$(dirname "$0")/cluster_test_lib.sh"
# fail, check, wait_until, stop_started, remove_namespaces, keep_logs_on_failure
cleanup() {
  stop_started
  remove_namespaces "$H" "$R"
  keep_logs_on_failure
}
trap cleanup EXIT
trap 'exit 1' INT TERM
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^[ZX]'; }
all_gone() { for p in "$@"; do alive "$p" && return 1; done; return 0; }
# in_r_besides_server: the pids in namespace R other than the test's ssh server.
in_r_besides_server() { ip netns pids "$R" | grep -vx "$server_pid"; }

# -- two hosts joined by one veth pair ------------------------------------------------------
for ns in "$H" "$R"; do ip netns add "$ns" || exit 1; ip -n "$ns" link set lo up; done
ip link add "${tag}a1" type veth peer name "${tag}b1" || exit 1
ip link set "${tag}a1" netns "$H"; ip link set "${tag}b1" netns "$R"
ip -n "$H" addr add 10.251.1.1/30 dev "${tag}a1"; ip -n "$R" addr add 10.251.1.2/30 dev "${tag}b1"
ip -n "$H" link set "${tag}a1" up; ip -n "$R" link set "${tag}b1" up

# -- an ssh server on R: dropbear, with the test's own host key and authorized key ----------
# dropbear reads ~/.ssh/authorized_keys only, so it runs in a mount namespace of
# its own whose /root is an empty tmpfs: the machine's /root is never touched.
# Sessions (the node) inherit that namespace.
ssh-keygen -q -t ed25519 -N '' -C pyactor-test-client -f "$work/client_key" || exit 1
ssh-keygen -q -t ed25519 -N '' -C pyactor-test-stranger -f "$work/stranger_key" || exit 1
dropbearkey -t ed25519 -f "$work/host_key" >/dev/null 2>&1 || { fail "dropbearkey"; exit 1; }
dropbearkey -y -f "$work/host_key" | grep '^ssh-ed25519 ' | cut -d' ' -f1,2 >"$work/host_key.pub"
ip netns exec "$R" unshare --mount --propagation private /bin/sh -c '
  mount -t tmpfs -o mode=700 pyactor-test-home /root && mkdir -m 700 /root/.ssh &&
  cp "$1/client_key.pub" /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys &&
  exec "$2" -F -E -s -p 10.251.1.2:22 -r "$1/host_key" -P "$1/ssh-server.pid"' sh "$work" "$SSH_SERVER" \
  >>"$work/ssh-server.log" 2>&1 &
server_pid=$!; pids+=("$server_pid")   # ip, sh and unshare exec: this is dropbear's pid
echo "10.251.1.2 $(cat "$work/host_key.pub")" >"$work/known_hosts"
# ssh_config KEY: a client that trusts only the test's host key and never prompts.
ssh_config() {
  cat <<EOF
Host 10.251.1.2
  User root
  IdentityFile $1
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  LogLevel ERROR
EOF
}
ssh_config "$work/client_key" >"$work/ssh_config"
ssh_config "$work/stranger_key" >"$work/ssh_config_stranger"
wait_until "the ssh server on R takes the test's key (10.251.1.2:22)" 10 \
  'ip netns exec "$H" ssh -F "$work/ssh_config" 10.251.1.2 true'

# -- certificates: mutual TLS, as the example config does --------------------------------------
"$PYACTOR" certs "$work/certs" head r1 client >/dev/null 2>&1 || { fail "pyactor certs"; exit 1; }
# cluster_config NAME SSH_CONFIG JOIN_TIMEOUT: the example's shape (ssh -tt {host} ... --ca --cert --key).
cluster_config() {
  cat <<EOF
[cluster]
listen = "10.251.1.1:7600"
workers = 1
join-timeout = $3
ca = "certs/ca.pem"
cert = "certs/head.pem"
key = "certs/head.key"
[node.r1]
host = "root@10.251.1.2"
workers = 2
launch = "ssh -tt -F $2 {host} {pyactor} node --join {head} --name {name} --workers {workers} --ca $work/certs/ca.pem --cert $work/certs/r1.pem --key $work/certs/r1.key"
EOF
}
cluster_config ssh "$work/ssh_config" 60s >"$work/ssh.ini"
inh() { timeout 120 ip netns exec "$H" "$PYACTOR" "$@"; }
client() {
  inh --connect 10.251.1.1:7600 --ca "$work/certs/ca.pem" --cert "$work/certs/client.pem" \
      --key "$work/certs/client.key" "$@"
}
# r1_processes: the node and its workers on R (pids), from the workers' own view.
r1_processes() { client broadcast --node r1 os.getppid | cut -d' ' -f2 | sort -u;
                 client broadcast --node r1 os.getpid | cut -d' ' -f2; }

# -- up through ssh, then down -------------------------------------------------------------
inh up "$work/ssh.ini" --detach >"$work/up.out" 2>&1; code=$?
cat "$work/up.out"
check "up --detach through ssh exits 0" '[ "$code" = 0 ]'
check "up printed r1 as up" 'grep -Eq "^r1 +[^ ]+ +up " "$work/up.out"'
wait_until "status (TLS client): r1 joined from the remote host's address" 30 \
  'client status | grep -Eq "^r1 +10\.251\.1\.2:[0-9]+ +up "'
out=$(client broadcast os.getpid)
echo "$out"
check "broadcast: one result per worker (head/1 r1/1 r1/2)" \
  '[ "$(echo "$out" | cut -d: -f1 | tr "\n" " ")" = "head/1 r1/1 r1/2 " ]'
remote=$(r1_processes)
check "the node and its 2 workers run on R" '[ "$(echo $remote | wc -w)" = 3 ]'
node_pid=$(echo "$remote" | head -n 1)
check "the node on R is a child of the ssh server's session" \
  '[ "$(ps -o comm= -p "$(ps -o ppid= -p "$node_pid" | tr -d " ")")" = dropbear ]'
inh down "$work/ssh.ini" >"$work/down.out" 2>&1; code=$?
cat "$work/down.out"
check "down exits 0 and stopped up, head and node r1" \
  '[ "$code" = 0 ] && [ "$(grep -c ": stopped$" "$work/down.out")" = 3 ]'
wait_until "down: the node and its workers on R are gone (by pid)" 15 'all_gone $remote'
wait_until "down: nothing but the test's ssh server runs on R" 15 '[ -z "$(in_r_besides_server)" ]'

# -- the ssh client killed: the remote node is hung up and stops with its workers -------------
inh up "$work/ssh.ini" --detach >"$work/up2.out" 2>&1; code=$?
check "up again exits 0" '[ "$code" = 0 ]' || cat "$work/up2.out"
wait_until "r1 is up again" 30 'client status | grep -Eq "^r1 +[^ ]+ +up "'
remote=$(r1_processes)
ssh_pid=$(awk '$1 == "node" && $2 == "r1" {print $3}' "$work"/pyactor-up-ssh-*.pid)
check "the pid file names r1's ssh client" \
  '[ -n "$ssh_pid" ] && [ "$(ps -o comm= -p "$ssh_pid")" = ssh ]'
kill -KILL "$ssh_pid"
wait_until "ssh SIGKILLed: the node and its workers on R stop (hangup)" 15 'all_gone $remote'
wait_until "ssh SIGKILLed: nothing but the test's ssh server runs on R" 15 '[ -z "$(in_r_besides_server)" ]'
wait_until "ssh SIGKILLed: the head no longer lists r1 as up" 15 \
  '! client status | grep -Eq "^r1 +[^ ]+ +up "'
# A hung-up node stops as on SIGTERM: its manager exits with user_shutdown, which the head
# sees, rather than the connection breaking under it (remote_link_unreachable).
check "ssh SIGKILLed: the node stopped cleanly on SIGHUP (head: lost: user_shutdown)" \
  'client status | grep -Eq "^r1 .*lost: .*user_shutdown"' || client status
out=$(client call operator.add 1 2)
check "the head's own worker still serves" '[ "$out" = 3 ]'
inh down "$work/ssh.ini" >"$work/down2.out" 2>&1; code=$?
check "down after that exits 0" '[ "$code" = 0 ]' || cat "$work/down2.out"

# -- a key the remote host refuses: up names the node and ssh's message -------------------------
cluster_config stranger "$work/ssh_config_stranger" 40s >"$work/stranger.ini"
inh up "$work/stranger.ini" >"$work/stranger.out" 2>&1; code=$?
cat "$work/stranger.out"
check "refused key: exit 2" '[ "$code" = 2 ]'
check "refused key: names r1 and ssh's exit code 255 and its last line (Permission denied)" \
  'grep -q "node r1: its launch command exited with code 255; its last line: .*Permission denied" "$work/stranger.out"'
check "refused key: reported before join-timeout (40 s)" 'grep -q "their launch commands failed" "$work/stranger.out"'
check "refused key: nothing left (by pid)" 'all_gone $(grep -o "pid [0-9]*" "$work/stranger.out" | cut -d" " -f2)'
check "refused key: nothing but the test's ssh server runs on R" '[ -z "$(in_r_besides_server)" ]'
check "refused key: no pid file left" '[ -z "$(ls "$work"/pyactor-up-stranger-*.pid 2>/dev/null)" ]'

for ns in "$H"; do
  wait_until "namespace $ns has no process left" 10 '[ -z "$(ip netns pids "$ns")" ]' ||
    for p in $(ip netns pids "$ns"); do echo "  left: $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
done
echo "$failures failures"
[ "$failures" -eq 0 ]
