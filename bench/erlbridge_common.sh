# Sourced by bench/erlbridge_bench.sh and bench/erlbridge_mib.sh (POSIX sh):
# their shared options, the compiled Erlang client and a fresh cookie.
#   usage_name=NAME; default_rounds=N; default_calls=N; . "$here/erlbridge_common.sh" "$@"
# Options: --rounds N, --calls N, --output FILE, --build-dir DIR (repeatable:
# `dirs` lists them all, `build_dir` is the first), --stages.
# Sets: here root rounds calls output build_dir dirs stages work cookie.
root=$(dirname "$here")
rounds=$default_rounds
calls=$default_calls
output=""
dirs=""
stages=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --calls) calls=$2; shift ;;
    --output) output=$2; shift ;;
    --build-dir) dirs="$dirs $2"; shift ;;
    --stages) stages=1 ;;
    *) echo "$usage_name: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$dirs" ] || dirs=" $root/build"
build_dir=$(echo $dirs | cut -d' ' -f1)
for d in $dirs; do
  for exe in pyactor pyactor-worker $required_tools; do
    [ -x "$d/bin/$exe" ] || { echo "$usage_name: $d/bin/$exe is missing (build first)" >&2; exit 2; }
  done
done
work=$(mktemp -d "/tmp/pyactor-$usage_name.XXXXXX")
. "$root/erlbridge/tests/gateway_lib.sh"
compile_client "$root" "$work/ebin" "$here/erlbridge_bench.erl"
cookie=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
