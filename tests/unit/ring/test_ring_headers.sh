#!/usr/bin/env bash
# The ring buffer's public headers build clean under a program's strictest
# flags (issue 12): each header alone, and a client that instantiates every
# inline path (header_client.c), with gcc and clang as C99, C11, C17 and
# C2x, and with g++ and clang++ as C++11, 14, 17 and 20, all with -Werror.
# A compiler that is not installed is reported and skipped; none at all fails.
# usage: test_ring_headers.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: test_ring_headers.sh SOURCE_DIR}
inc="$src/include"
client="$src/tests/unit/ring/header_client.c"
headers=(common.h ring-rseq.h ring.h)
warn=(-Wall -Wextra -Wpedantic -Wcast-qual -Wconversion -Wsign-conversion -Wshadow -Wundef
      -Wredundant-decls -Werror)
cwarn=(-Wstrict-prototypes -Wmissing-prototypes)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 runs=0

try() { # label, compiler args...
	local label=$1
	shift
	runs=$((runs + 1))
	if ! "$@" >"$tmp/out" 2>&1; then
		echo "FAIL: $label"
		sed 's/^/    /' "$tmp/out" | head -20
		fail=$((fail + 1))
	fi
}

for cc in gcc clang; do
	command -v $cc >/dev/null || { echo "skip: $cc not installed"; continue; }
	for std in c99 c11 c17 c2x; do
		for h in "${headers[@]}"; do
			printf '#include <ringtrace/%s>\ntypedef int rtr_header_check;\n' "$h" >"$tmp/h.c"
			try "$h alone, $cc -std=$std" $cc -std=$std "${warn[@]}" "${cwarn[@]}" -I"$inc" \
				-fsyntax-only "$tmp/h.c"
		done
		try "client, $cc -std=$std -O2" $cc -x c -std=$std -O2 "${warn[@]}" "${cwarn[@]}" \
			-I"$inc" -c "$client" -o "$tmp/c.o"
	done
done
for cxx in g++ clang++; do
	command -v $cxx >/dev/null || { echo "skip: $cxx not installed"; continue; }
	xwarn=(-Wold-style-cast)
	[[ $cxx == g++ ]] && xwarn+=(-Wuseless-cast) # a GCC-only warning
	for std in c++11 c++14 c++17 c++20; do
		for h in "${headers[@]}"; do
			printf '#include <ringtrace/%s>\ntypedef int rtr_header_check;\n' "$h" >"$tmp/h.cc"
			try "$h alone, $cxx -std=$std" $cxx -std=$std "${warn[@]}" "${xwarn[@]}" -I"$inc" \
				-fsyntax-only "$tmp/h.cc"
		done
		try "client, $cxx -std=$std -O2" $cxx -x c++ -std=$std -O2 "${warn[@]}" "${xwarn[@]}" \
			-I"$inc" -c "$client" -o "$tmp/c.o"
	done
done
if ((runs == 0)); then
	echo "test_ring_headers: no compiler found"
	exit 1
fi
if ((fail)); then
	echo "test_ring_headers: $fail of $runs builds failed"
	exit 1
fi
echo "test_ring_headers: $runs builds clean"
