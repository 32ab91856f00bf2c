#!/bin/sh
# Installs the build into a temporary prefix and uses it as a user would:
# file layout, a CMake consumer (find_package) and a pkg-config consumer that
# make real calls, the installed `pyactor` from another folder, the same after
# the prefix is moved, wrong PYACTOR_HOME and a missing package (clear
# errors), then the .deb from `cpack -G DEB`: its dependencies are checked
# against this system, dpkg installs it into a private root and database
# (never the system's) and refuses it when CAF is missing, and the installed
# tree runs `pyactor call` and `pyactor run`.
#
# usage: install_test.sh BUILD_DIR SOURCE_DIR VERSION (the project's, e.g. 0.1.0)
set -eu
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
version=$3
# Before 1.0 the SONAME carries major.minor.
soversion=$(echo "$version" | cut -d. -f1,2)
tmp=$(mktemp -d /tmp/pyactor-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
elsewhere=$tmp/elsewhere
mkdir -p "$elsewhere"
# Nothing from the caller's shell may point the runtime somewhere.
unset PYACTOR_HOME PYACTOR_WORKER PYTHONPATH || true

fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}
step() { echo "install_test: $*"; }
expect_file() { [ -f "$1" ] || fail "missing $1"; }
# expect_output WHAT EXPECTED CMD...: runs CMD in $elsewhere, checks stdout has EXPECTED.
expect_output() {
  what=$1 expected=$2
  shift 2
  out=$(cd "$elsewhere" && "$@" 2>"$tmp/stderr") || fail "$what exited $?: $(cat "$tmp/stderr")"
  case $out in
    *"$expected"*) ;;
    *) fail "$what printed '$out', expected '$expected' (stderr: $(cat "$tmp/stderr"))" ;;
  esac
}
# expect_error WHAT EXPECTED CMD...: CMD must fail and say EXPECTED on stderr.
expect_error() {
  what=$1 expected=$2
  shift 2
  if (cd "$elsewhere" && "$@") >"$tmp/stdout" 2>"$tmp/stderr"; then
    fail "$what succeeded, expected an error saying '$expected'"
  fi
  grep -qF -- "$expected" "$tmp/stderr" || fail "$what said '$(cat "$tmp/stderr")', expected '$expected'"
}

# The install directories of this build, relative to the prefix (lib/ or a
# multiarch lib/x86_64-linux-gnu/, as configured).
cached() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
bindir=$(cached CMAKE_INSTALL_BINDIR)
libdir=$(cached CMAKE_INSTALL_LIBDIR)
pkglib=$(cached PYACTOR_INSTALL_PKGLIBDIR)
pydir=$(cached PYACTOR_INSTALL_PYTHONDIR)
cmakedir=$(cached PYACTOR_INSTALL_CMAKEDIR)
pcdir=$(cached PYACTOR_INSTALL_PKGCONFIGDIR)
confdir=$(cached PYACTOR_INSTALL_CONFIGDIR)
[ -n "$bindir" ] && [ -n "$libdir" ] && [ -n "$pkglib" ] && [ -n "$pydir" ] && [ -n "$cmakedir" ] \
  && [ -n "$pcdir" ] && [ -n "$confdir" ] || fail "install directories missing in $build/CMakeCache.txt"

step "build tree: pyactor --version uses the build tree"
printed=$(cd "$elsewhere" && "$build/bin/pyactor" --version) || fail "build/bin/pyactor --version exited $?"
case $printed in
  *"worker $build/bin/pyactor-worker"*"(build tree)"*) ;;
  *) fail "build/bin/pyactor --version does not use the build tree: $printed" ;;
esac

step "cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || fail "cmake --install: $(cat "$tmp/install.log")"
for f in $bindir/pyactor $pkglib/pyactor-worker $pydir/pyactor/__init__.py \
    include/pyactor/pyactor.hpp include/pyactor/runtime.hpp include/pyactor/parallel.hpp \
    include/pyactor/value.hpp include/pyactor/error.hpp include/pyactor/runtime_options.hpp \
    include/pyactor/codec/literal.hpp include/pyactor/codec/msgpack.hpp \
    $cmakedir/pyactorConfig.cmake $cmakedir/pyactorConfigVersion.cmake \
    $cmakedir/pyactorTargets.cmake $pcdir/pyactor.pc $confdir/default.ini; do
  expect_file "$prefix/$f"
done
# The package's bytecode, compiled at install (workers run with -B).
for m in __init__ _worker encoders types; do
  ls "$prefix/$pydir/pyactor/__pycache__/$m".cpython-*.pyc >/dev/null 2>&1 \
    || fail "no bytecode for pyactor/$m.py in $prefix/$pydir/pyactor/__pycache__"
done
[ ! -e "$prefix/include/pyactor/actors" ] && [ ! -e "$prefix/include/pyactor/worker" ] \
  || fail "internal headers (actors/, worker/) were installed"
[ ! -e "$prefix/$pydir/pyactor/tests" ] || fail "the Python package's tests were installed"
soname=$(readelf -d "$prefix/$libdir/libpyactor.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libpyactor.so.$soversion" ] || fail "libpyactor.so has SONAME '$soname', expected libpyactor.so.$soversion"
expect_file "$prefix/$libdir/$soname"
leaked=$(nm -D --defined-only -C "$prefix/$libdir/$soname" | grep -E ' [A-Za-z] (caf|msgpack)::' | head -3)
[ -z "$leaked" ] || fail "libpyactor.so exports CAF or msgpack symbols: $leaked"
if readelf -d "$prefix/$pkglib/pyactor-worker" | grep -q 'libcaf'; then
  fail "pyactor-worker links CAF"
fi

step "pyactor --version and call from $elsewhere"
printed=$(cd "$elsewhere" && "$prefix/$bindir/pyactor" --version) || fail "pyactor --version exited $?"
for line in "pyactor $version" "CAF 0.17." "Python 3.11" "worker $prefix/$pkglib/pyactor-worker" \
    "python package $prefix/$pydir (installed)"; do
  case $printed in *"$line"*) ;; *) fail "pyactor --version lacks '$line': $printed" ;; esac
done
expect_output "installed pyactor call" 42 "$prefix/$bindir/pyactor" --workers 1 call operator.add 2 40
expect_output "installed pyactor eval (package location)" "$prefix/$pydir/pyactor/__init__.py" \
  "$prefix/$bindir/pyactor" --workers 1 eval "__import__('pyactor').__file__"

step "CMake consumer: find_package(pyactor), pyactor::pyactor"
cmake -S "$source/tests/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer.log" 2>&1 || fail "consumer configure: $(cat "$tmp/consumer.log")"
cmake --build "$tmp/consumer" >"$tmp/consumer.log" 2>&1 || fail "consumer build: $(cat "$tmp/consumer.log")"
expect_output "CMake consumer" "consumer ok" "$tmp/consumer/consumer"
expect_output "CMake consumer (package location)" "$prefix/$pydir/pyactor/__init__.py" \
  "$tmp/consumer/consumer"

step "pkg-config consumer"
flags=$(PKG_CONFIG_PATH="$prefix/$pcdir" pkg-config --cflags --libs pyactor) \
  || fail "pkg-config --cflags --libs pyactor failed"
# shellcheck disable=SC2086 # the flags are words
c++ -std=c++17 -o "$tmp/pc-consumer" "$source/tests/consumer/main.cpp" $flags \
  -Wl,-rpath,"$prefix/$libdir" 2>"$tmp/pc.log" || fail "pkg-config consumer build: $(cat "$tmp/pc.log")"
expect_output "pkg-config consumer" "consumer ok" "$tmp/pc-consumer"

step "move the prefix and run again"
moved=$tmp/moved/somewhere/else
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
expect_output "moved pyactor --version" "worker $moved/$pkglib/pyactor-worker" "$moved/$bindir/pyactor" --version
expect_output "moved pyactor call" 42 "$moved/$bindir/pyactor" --workers 1 call operator.add 2 40
expect_output "moved pyactor eval (package location)" "$moved/$pydir/pyactor/__init__.py" \
  "$moved/$bindir/pyactor" --workers 1 eval "__import__('pyactor').__file__"
# The consumer's RUNPATH names the old prefix; with the library found at the
# new one it must take the workers and package from there too.
expect_output "moved CMake consumer" "$moved/$pydir/pyactor/__init__.py" \
  env LD_LIBRARY_PATH="$moved/$libdir" "$tmp/consumer/consumer"

step "bad settings give clear errors"
expect_error "PYACTOR_HOME=nowhere" "PYACTOR_HOME='$tmp/nowhere' is not a pyactor install prefix" \
  env PYACTOR_HOME="$tmp/nowhere" "$moved/$bindir/pyactor" --workers 1 call operator.add 2 40
expect_output "PYACTOR_HOME=the moved prefix" "(PYACTOR_HOME)" \
  env PYACTOR_HOME="$moved" "$moved/$bindir/pyactor" --version
expect_error "PYACTOR_WORKER=a text file" "is not an executable file" \
  env PYACTOR_WORKER="$moved/$confdir/default.ini" "$moved/$bindir/pyactor" --workers 1 call operator.add 2 40
mv "$moved/$pydir" "$moved/$pydir.away"
expect_error "missing Python package" "$moved/$pydir/pyactor/__init__.py" \
  "$moved/$bindir/pyactor" --workers 1 call operator.add 2 40
grep -qF "set PYACTOR_HOME" "$tmp/stderr" || fail "the missing-package error does not say what to do: $(cat "$tmp/stderr")"

step "cpack -G DEB"
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/deb") >"$tmp/cpack.log" 2>&1 \
  || fail "cpack: $(cat "$tmp/cpack.log")"
deb=$(ls "$tmp"/deb/pyactor_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
step "Depends: $depends"
# Each CAF library libpyactor needs (libcaf_io once a cluster uses it) must be declared.
cafs=$(readelf -d "$build/lib/libpyactor.so" | sed -n 's/.*\[libcaf_\([a-z]*\)\.so.*/libcaf-\1/p')
[ -n "$cafs" ] || fail "libpyactor.so needs no CAF library"
for need in $(for c in $cafs; do echo "${c}0.17"; done) python3.11 libpython3.11-stdlib libstdc++6; do
  case ", $depends," in *", $need "* | *", $need,"*) ;; *) fail "$deb does not depend on $need: $depends" ;; esac
done
# Every dependency (one alternative of each) must be satisfied on this system.
echo "$depends" | tr ',' '\n' | while read -r group; do
  satisfied=no
  for alt in $(echo "$group" | tr -d ' ' | tr '|' ' '); do
    name=${alt%%(*}
    have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null | sed -n 's/^install ok installed //p')
    [ -n "$have" ] || continue
    case $alt in
      *'('*) rel=$(echo "$alt" | sed 's/.*(\([<>=]*\).*/\1/'); ver=$(echo "$alt" | sed 's/.*([<>=]*\(.*\))/\1/')
             case $rel in '>=') op=ge ;; '<=') op=le ;; '>>') op=gt ;; '<<') op=lt ;; *) op=eq ;; esac
             dpkg --compare-versions "$have" "$op" "$ver" && satisfied=yes ;;
      *) satisfied=yes ;;
    esac
  done
  [ $satisfied = yes ] || fail "dependency '$group' of $deb is not satisfied here"
done
# dpkg itself installs it into a private root with a copy of this system's
# package database (never the real one); the postinst's ldconfig is stubbed.
# Without libcaf-core0.17 in that database, dpkg must refuse it.
mkdir -p "$tmp/admin/info" "$tmp/admin/updates" "$tmp/admin/triggers" "$tmp/root" "$tmp/stub"
touch "$tmp/admin/available" "$tmp/admin/diversions" "$tmp/admin/statoverride"
printf '#!/bin/sh\nexit 0\n' >"$tmp/stub/ldconfig"
chmod +x "$tmp/stub/ldconfig"
private_dpkg() {
  PATH="$tmp/stub:$PATH" dpkg --admindir="$tmp/admin" --instdir="$tmp/root" --force-not-root \
    --force-script-chrootless --log=/dev/null "$@"
}
awk 'BEGIN { RS = ""; ORS = "\n\n" } !/^Package: libcaf-core0\.17\n/' /var/lib/dpkg/status >"$tmp/admin/status"
if private_dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
  fail "dpkg -i succeeded without libcaf-core0.17 installed"
fi
grep -q "depends on libcaf-core0.17" "$tmp/dpkg.log" || fail "dpkg -i without CAF said: $(grep -v 'files list file' "$tmp/dpkg.log")"
rm -rf "$tmp/root" && mkdir -p "$tmp/root"
cp /var/lib/dpkg/status "$tmp/admin/status"
rm -f "$tmp/admin/info/pyactor."*
private_dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || fail "dpkg -i: $(grep -v 'files list file' "$tmp/dpkg.log")"
[ "$(dpkg-query --admindir="$tmp/admin" -W -f='${Status}' pyactor)" = "install ok installed" ] \
  || fail "pyactor is not 'install ok installed' after dpkg -i"
for f in usr/$bindir/pyactor usr/$pkglib/pyactor-worker usr/$pydir/pyactor/__init__.py \
    usr/$cmakedir/pyactorConfig.cmake usr/$confdir/default.ini; do
  expect_file "$tmp/root/$f"
done
expect_output "packaged pyactor call" 42 "$tmp/root/usr/$bindir/pyactor" --workers 1 call operator.add 2 40
expect_output "packaged pyactor run" "pyactor:" "$tmp/root/usr/$bindir/pyactor" --workers 1 run
step "ok"
