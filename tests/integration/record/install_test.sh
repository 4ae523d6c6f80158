#!/usr/bin/env bash
# Install test (issue 4): `cmake --install` into a temporary PREFIX, then a
# tiny instrumented program built three ways — pkg-config against the
# installation, a CMake project with find_package(ringtrace), pkg-config
# against the build tree (build/lib/pkgconfig) — each recorded by the
# installed `ringtrace record` and read back with babeltrace2.
#   install_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
command -v babeltrace2 >/dev/null || { echo "babeltrace2 not found: skipped"; exit 77; }
command -v pkg-config >/dev/null || { echo "pkg-config not found: skipped"; exit 77; }
work=$(mktemp -d /tmp/rtr-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; fail "cmake --install"; }
for f in bin/ringtrace include/ringtrace/tracepoint.h include/ringtrace/ctf.h \
	include/ringtrace/event.h include/ringtrace/ring.h include/ringtrace/clock.h \
	include/ringtrace/common.h; do
	[[ -e "$prefix/$f" ]] || fail "$f not installed"
done
libdir=$(dirname "$(find "$prefix" -name 'libringtrace.so' | head -n1)")
[[ -n "$libdir" && -e "$libdir/libringtrace.so" ]] || fail "libringtrace.so not installed"
pcdir="$libdir/pkgconfig"
[[ -f "$pcdir/ringtrace.pc" ]] || fail "ringtrace.pc not installed"

mkdir -p "$work/src"
cat >"$work/src/hello_tp.h" <<'TP'
#include <ringtrace/tracepoint.h>
RTR_EVENT(hello, world,
	RTR_ARGS(uint64_t, value, const char *, who),
	RTR_FIELDS(
		rtr_integer(uint64_t, value, value),
		rtr_string(who, who)))
TP
cat >"$work/src/hello.c" <<'C'
#define RTR_DEFINE_PROBES
#include "hello_tp.h"
int main(int argc, char **argv)
{
	(void)argc;
	rtr_tracepoint(hello, world, 424242, argv[1]);
	return 0;
}
C
cat >"$work/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(hello C)
find_package(ringtrace 0.1 REQUIRED)
add_executable(hello hello.c)
target_link_libraries(hello PRIVATE ringtrace::ringtrace)
CM

check_trace() { # name dir
	local out
	out=$(babeltrace2 "$2" 2>"$work/bt.err") || fail "$1: babeltrace2 failed"
	[[ ! -s "$work/bt.err" ]] && grep -q "hello:world: .*{ value = 424242, who = \"$1\" }" <<<"$out" ||
		{ echo "$out"; cat "$work/bt.err"; fail "$1: event not found in the trace"; }
	echo "install_test: $1: ok"
}

# 1. pkg-config against the installation.
cc -O2 -o "$work/hello_pc" "$work/src/hello.c" \
	$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs ringtrace) -Wl,-rpath,"$libdir"
"$prefix/bin/ringtrace" record -q -o "$work/t1" -- "$work/hello_pc" pkgconfig
check_trace pkgconfig "$work/t1"

# 2. CMake package.
cmake -S "$work/src" -B "$work/cmbuild" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_BUILD_RPATH="$libdir" >"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log"; fail "find_package(ringtrace)"; }
cmake --build "$work/cmbuild" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "cmake build"; }
"$prefix/bin/ringtrace" record -q -o "$work/t2" -- "$work/cmbuild/hello" cmake
check_trace cmake "$work/t2"

# 3. pkg-config against the build tree.
cc -O2 -o "$work/hello_bt" "$work/src/hello.c" \
	$(PKG_CONFIG_PATH="$build/lib/pkgconfig" pkg-config --cflags --libs ringtrace)
"$build/bin/ringtrace" record -q -o "$work/t3" -- "$work/hello_bt" buildtree
check_trace buildtree "$work/t3"
