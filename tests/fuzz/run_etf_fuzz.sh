#!/bin/sh
# Builds the ETF decoder's libFuzzer target with clang (ASan + UBSan) and runs it
# for a bounded time, seeded with the Erlang conformance vectors.
# usage: run_etf_fuzz.sh SOURCE_DIR WORK_DIR [SECONDS]
set -eu
src=$1
work=$2
seconds=${3:-60}
mkdir -p "$work/corpus" "$work/seeds"
cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$cxx" ]; then
  echo "run_etf_fuzz: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
bin="$work/etf_fuzz"
sources="$src/tests/fuzz/etf_fuzz.cpp $src/libpyactor/src/codec/etf.cpp
         $src/libpyactor/src/codec/etf_encode.cpp $src/libpyactor/src/codec/etf_format.cpp
         $src/libpyactor/src/value.cpp $src/libpyactor/src/error.cpp"
# Rebuild only when a source is newer than the binary.
rebuild=no
[ -x "$bin" ] || rebuild=yes
for f in $sources $src/libpyactor/include/pyactor/codec/etf.hpp $src/libpyactor/include/pyactor/value.hpp \
         $src/libpyactor/src/codec/etf_internal.hpp; do
  [ "$f" -nt "$bin" ] && rebuild=yes
done
if [ $rebuild = yes ]; then
  echo "run_etf_fuzz: building with $cxx"
  # shellcheck disable=SC2086
  "$cxx" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/libpyactor/include" $sources -lz -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi
escript "$src/tests/etf_vectors.escript" "$work/seeds" > /dev/null
# -rss_limit_mb bounds the decoder's memory on every input; -max_len lets seeds through.
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=200000 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$work/seeds"
