#!/bin/bash
# The installed headers under a demanding project's flags (issue 12), as
# liburcu tests its own: every public header alone, and a provider with
# events of every field kind (probes defined in C, called from C and C++),
# built by gcc and clang as C99, C11, C17 and C2x and as C++11, 14, 17 and
# 20, warnings as errors. Then the three common mistakes must each fail
# with the message that names the fix (README, Troubleshooting).
# Usage: headers.sh REPO_ROOT
set -u
root=$(cd "$1" && pwd)
inc=$root/include
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
W=(-Wall -Wextra -Wpedantic -Wcast-qual -Wconversion -Wsign-conversion -Wshadow -Wundef
	-Wstrict-prototypes -Wmissing-prototypes -Wredundant-decls -Werror)
WXX=(-Wall -Wextra -Wpedantic -Wcast-qual -Wconversion -Wsign-conversion -Wshadow -Wundef
	-Wredundant-decls -Wold-style-cast -Werror)
fail=0 n=0
bad() { fail=1; echo "FAIL $*"; }
build() { # what compiler args...
	local what=$1
	shift
	n=$((n + 1))
	"$@" >"$tmp/log" 2>&1 || { bad "$what: $*"; head -n 8 "$tmp/log"; }
}

# headers C++ programs include; the others are for ring buffer clients and
# probes, written in C
cxx_ok="common.h event.h clock.h reader.h tracepoint.h"
for h in "$inc"/ringtrace/*.h; do
	h=$(basename "$h")
	printf '#include <ringtrace/%s>\nint rtr_header_test_symbol;\n' "$h" >"$tmp/one.c"
	cp "$tmp/one.c" "$tmp/one.cpp"
	for cc in gcc clang; do
		for std in c99 c11 c17 c2x; do
			build "$h ($cc -std=$std)" $cc -std=$std "${W[@]}" -I"$inc" -c "$tmp/one.c" -o "$tmp/one.o"
		done
		case " $cxx_ok " in *" $h "*) ;; *) continue ;; esac
		cxx=g++ extra=(-Wuseless-cast)
		[ $cc = clang ] && cxx=clang++ extra=()
		for std in c++11 c++14 c++17 c++20; do
			build "$h ($cxx -std=$std)" $cxx -std=$std "${WXX[@]}" "${extra[@]}" -I"$inc" -c "$tmp/one.cpp" -o "$tmp/one.o"
		done
	done
done

# a provider with every field kind: probes in C, call sites in C and C++
for cc in gcc clang; do
	for std in c99 c11 c17 c2x; do
		build "provider ($cc -std=$std)" $cc -std=$std "${W[@]}" -I"$inc" -I"$here" -c "$here/all_fields.c" -o "$tmp/p.o"
	done
	cxx=g++ extra=(-Wuseless-cast)
	[ $cc = clang ] && cxx=clang++ extra=()
	for std in c++11 c++14 c++17 c++20; do
		build "provider call sites ($cxx -std=$std)" $cxx -std=$std "${WXX[@]}" "${extra[@]}" -I"$inc" -I"$here" -c "$here/all_fields_calls.cpp" -o "$tmp/c.o"
	done
done

# the common mistakes fail, and say what to do
mistake() { # name expected-text compile-command...
	local name=$1 want=$2
	shift 2
	n=$((n + 1))
	if "$@" >"$tmp/log" 2>&1; then
		bad "mistake '$name' built"
	elif ! grep -q -- "$want" "$tmp/log"; then
		bad "mistake '$name': the message does not say '$want':"
		head -n 5 "$tmp/log"
	fi
}
cat >"$tmp/nocomma_tp.h" <<'H'
#include <ringtrace/tracepoint.h>
RTR_EVENT(mist, ev, RTR_ARGS(uint64_t, buf_len, const char *, name),
	RTR_FIELDS(rtr_integer(uint64_t, len, buf_len) rtr_string(name, name)))
H
cat >"$tmp/ok_tp.h" <<'H'
#include <ringtrace/tracepoint.h>
RTR_EVENT(mist, ev, RTR_ARGS(uint64_t, buf_len, const char *, name),
	RTR_FIELDS(rtr_integer(uint64_t, len, buf_len), rtr_string(name, name)))
H
printf '#define RTR_DEFINE_PROBES\n#include "nocomma_tp.h"\nint main(void)\n{\n\trtr_tracepoint(mist, ev, 1, "x");\n\treturn 0;\n}\n' >"$tmp/nocomma.c"
printf '#include "ok_tp.h"\nint main(void)\n{\n\trtr_tracepoint(mist, ev, 1, "x");\n\treturn 0;\n}\n' >"$tmp/noprobes.c"
printf '#define RTR_DEFINE_PROBES\n#include "ok_tp.h"\n#include "ok_tp.h"\nint main(void)\n{\n\trtr_tracepoint(mist, ev, 1, "x");\n\treturn 0;\n}\n' >"$tmp/twice.c"
for cc in gcc clang; do
	mistake "fields without commas ($cc)" "separate the fields with commas" \
		$cc -I"$inc" -I"$tmp" -c "$tmp/nocomma.c" -o "$tmp/x.o"
	mistake "no RTR_DEFINE_PROBES ($cc)" "define_RTR_DEFINE_PROBES_in_one_C_file" \
		$cc -I"$inc" -I"$tmp" "$tmp/noprobes.c" -o "$tmp/x"
	mistake "header twice without a guard ($cc)" "give_the_provider_header_an_include_guard" \
		$cc -I"$inc" -I"$tmp" -c "$tmp/twice.c" -o "$tmp/x.o"
done

echo "headers: $n builds checked"
exit $fail
