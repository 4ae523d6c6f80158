#!/bin/bash
# `ringtrace view --debug-info` against `babeltrace2 --debug-info` on the
# same traces (docs/design/debuginfo.md), output to /dev/null:
#  * hot: fib.c's fib(N) recorded with --func --context vpid,ip (few
#    addresses, many events: the cost per event of the stage);
#  * cold: a generated program of F functions in 10 compile units, each
#    called once (many addresses: the cost of DWARF lookups);
#  * lib: one address in 13 of libringtrace.so's code (an -O2 -g library
#    of many units, inlined code), written by
#    tests/integration/debuginfo/sweep.py.
# Also `view --debug-info` against plain `view` (what the stage costs).
# Runs alternate, ROUNDS rounds, medians of wall times; BENCH lines give
# each and the ratios from the same run. The outputs are compared once
# (a benchmark of different outputs would mean nothing). The machine is
# shared with other jobs: read the ratios.
# Usage: bench/instrument/debuginfo.sh BUILD_DIR [N] [F] [ROUNDS]
set -u
B=$(cd "${1:?build dir}" && pwd) N=${2:-24} F=${3:-3000} R=${4:-5}
RT=$B/bin/ringtrace
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
for t in babeltrace2 cc; do
	command -v $t >/dev/null || { echo "debuginfo.sh: $t missing (scripts/deps.sh)" >&2; exit 1; }
done

# ---- the programs and their traces ----
cc -O2 -g -finstrument-functions -o "$TMP/fib" "$HERE/fib.c" || exit 1
mkdir -p "$TMP/gen"
per=$(((F + 9) / 10))
for u in $(seq 0 9); do
	{
		for i in $(seq 0 $((per - 1))); do
			echo "int f${u}_$i(int x);"
			echo "__attribute__((noinline)) int f${u}_$i(int x) { return x * $((i + 3)) + $u; }"
		done
		echo "int unit$u(int x);"
		echo "int unit$u(int x) {"
		echo "	int s = 0;"
		for i in $(seq 0 $((per - 1))); do echo "	s += f${u}_$i(x);"; done
		echo "	return s;"
		echo "}"
	} >"$TMP/gen/u$u.c"
done
{
	echo "#include <stdio.h>"
	for u in $(seq 0 9); do echo "int unit$u(int x);"; done
	echo "int main(void) { int s = 0;"
	for u in $(seq 0 9); do echo "	s += unit$u(1);"; done
	echo "	printf(\"%d\\n\", s); return 0; }"
} >"$TMP/gen/main.c"
cc -O1 -g -finstrument-functions -o "$TMP/many" "$TMP"/gen/*.c || exit 1

"$RT" record -q -o "$TMP/hot" --func --context vpid,ip --subbuf-size 1M --num-subbuf 64 \
	-- "$TMP/fib" "$N" >/dev/null || exit 1
"$RT" record -q -o "$TMP/cold" --func --context vpid,ip --subbuf-size 1M --num-subbuf 64 \
	-- "$TMP/many" >/dev/null || exit 1

python3 "$HERE/../../tests/integration/debuginfo/sweep.py" "$TMP/lib" 0x7f0000000000 13 \
	"$(realpath "$B/lib/libringtrace.so.0")" || exit 1

for t in hot cold lib; do
	babeltrace2 --debug-info "$TMP/$t" >"$TMP/$t.bt2" 2>/dev/null || { echo "babeltrace2 failed on $t" >&2; exit 1; }
	"$RT" view --debug-info "$TMP/$t" >"$TMP/$t.rt" || exit 1
	cmp -s "$TMP/$t.bt2" "$TMP/$t.rt" || { echo "debuginfo.sh: outputs differ on $t" >&2; exit 1; }
	ev=$(wc -l <"$TMP/$t.rt")
	named=$(grep -c 'func = "[^"]' "$TMP/$t.rt")
	echo "BENCH debuginfo_${t}_events $ev events"
	echo "BENCH debuginfo_${t}_named $named events"
	rm -f "$TMP/$t.bt2" "$TMP/$t.rt"
done

secs() { # command... -> wall seconds
	local a b
	a=$(date +%s%N)
	"$@" >/dev/null 2>&1
	b=$(date +%s%N)
	echo "scale=4; ($b - $a) / 1000000000" | bc
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for t in hot cold lib; do
	: >"$TMP/$t.b" && : >"$TMP/$t.v" && : >"$TMP/$t.p"
	for r in $(seq "$R"); do
		secs babeltrace2 --debug-info "$TMP/$t" >>"$TMP/$t.b"
		secs "$RT" view --debug-info "$TMP/$t" >>"$TMP/$t.v"
		secs "$RT" view "$TMP/$t" >>"$TMP/$t.p"
	done
	b=$(median <"$TMP/$t.b") v=$(median <"$TMP/$t.v") p=$(median <"$TMP/$t.p")
	echo "BENCH debuginfo_${t}_bt2 $b s"
	echo "BENCH debuginfo_${t}_view $v s"
	echo "BENCH debuginfo_${t}_view_plain $p s"
	echo "BENCH debuginfo_${t}_speedup $(echo "scale=2; $b / $v" | bc) x"
	echo "BENCH debuginfo_${t}_stage_cost $(echo "scale=2; $v / $p" | bc) x"
done
