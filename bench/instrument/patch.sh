#!/bin/bash
# PROTOTYPE measurement (instrument.md §6): function entry/exit by patched
# nops (-fpatchable-function-entry=5, bench/instrument/patch/
# patch.c: the nops rewritten at start into calls of a trampoline, exits by
# return-address hooking) against libringtrace-func.so (-finstrument-
# functions), on fib.c (fib(N): 2*F(N+1)-1 calls), the same events written
# by the same inlined emit path. All built with -O2
# -fno-optimize-sibling-calls (with free nops GCC turns one of fib's two
# recursive calls into a loop; the hooks of -finstrument-functions prevent
# it: the same calls are then made). Variants interleaved, ROUNDS rounds,
# medians of the program's own ns per call:
#   none        fib built without instrumentation
#   cyg_empty   -finstrument-functions, glibc's empty hooks (not recorded)
#   nop         -fpatchable-function-entry=5, nops never patched
#   cyg_rt      -finstrument-functions under record --func
#   patch_rt    the same patched, under record -e 'lttng_ust_cyg_profile:*'
#   patch_idle  patched, recorded with no event enabled (hooks on,
#               nothing written: the mechanism's own cost)
#   patch_entry patched, recorded, entries only (PATCH_NO_EXIT: no return
#               hook; half the events: splits the cost)
#   cyg_idle    -finstrument-functions + libringtrace-func.so, nothing enabled
# The machine is shared with other agents: read the ratios and medians.
# Usage: bench/instrument/patch.sh BUILD_DIR [N] [ROUNDS]
set -u
B=$(cd "${1:?build dir}" && pwd) N=${2:-25} R=${3:-7}
RT=$B/bin/ringtrace
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -fno-optimize-sibling-calls -o "$TMP/fib_none" "$HERE/fib.c" &&
	cc -O2 -fno-optimize-sibling-calls -finstrument-functions -o "$TMP/fib_cyg" "$HERE/fib.c" &&
	cc -O2 -fno-optimize-sibling-calls -fpatchable-function-entry=5 -o "$TMP/fib_pg" "$HERE/fib.c" &&
	cc -O2 -g -fPIC -shared -I"$SRC/include" -I"$SRC/instrument" \
		-o "$TMP/libpatch.so" "$HERE/patch/patch.c" -L"$B/lib" -lringtrace -Wl,-rpath,"$B/lib" || exit 1
# robustness first: threads, longjmp out of hooked frames, signal handlers
# (check.c); event counts from the source's calls: threads 3 x (200 x
# fib(12): 465 calls + worker) entries and exits, longjmp 1000 x 6 entries
# without exits, signals 50 x (handler + leaf + fib(10): 177 calls) both,
# main's entry and exit
cc -O2 -fno-optimize-sibling-calls -fpatchable-function-entry=5 -pthread -o "$TMP/check" "$HERE/patch/check.c" || exit 1
for m in "1 558008 ok 86400 0" "2 6002 ok 0 0" "4 17902 ok 2750 100" "7 581908 ok 89150 100"; do
	set -- $m
	rm -rf "$TMP/c"
	out=$("$RT" record -q -o "$TMP/c" -e 'lttng_ust_cyg_profile:*' --subbuf-size 4M -- env LD_PRELOAD="$TMP/libpatch.so" "$TMP/check" "$1" 2>"$TMP/cerr")
	n=$("$RT" stats "$TMP/c" 2>/dev/null | awk '/ lttng_ust_cyg_profile:func_(entry|exit)$/ { s += $1 } END { print s + 0 }')
	[ "$out" = "$3 $4 $5" ] && [ "$n" = "$2" ] || { echo "patch.sh: check mode $1: output '$out', $n events, expected '$3 $4 $5', $2 events: $(cat "$TMP/cerr")" >&2; exit 1; }
done
echo "# check: threads, longjmp, signals: outputs and event counts as expected"
ns_of() { awk '/^ns_per_call/ { print $2 }' "$1"; }
lost_of() { sed -n 's/.* recorded, \([0-9]*\) lost.*/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }'; }
run() { # variant -> "ns lost events"
	local v=$1 d=$TMP/t out=$TMP/out n=0 lost=0
	rm -rf "$d"
	case $v in
	none) "$TMP/fib_none" "$N" >"$out" ;;
	cyg_empty) "$TMP/fib_cyg" "$N" >"$out" ;;
	nop) "$TMP/fib_pg" "$N" >"$out" ;;
	cyg_rt) "$RT" record -o "$d" --func --subbuf-size 1M --num-subbuf 64 -- "$TMP/fib_cyg" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	cyg_idle) "$RT" record -o "$d" -e 'nothing:*' --subbuf-size 1M --num-subbuf 64 -- env LD_PRELOAD="$B/lib/libringtrace-func.so" "$TMP/fib_cyg" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	patch_rt) "$RT" record -o "$d" -e 'lttng_ust_cyg_profile:*' --subbuf-size 1M --num-subbuf 64 -- env LD_PRELOAD="$TMP/libpatch.so" "$TMP/fib_pg" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	patch_entry) "$RT" record -o "$d" -e 'lttng_ust_cyg_profile:*' --subbuf-size 1M --num-subbuf 64 -- env PATCH_NO_EXIT=1 LD_PRELOAD="$TMP/libpatch.so" "$TMP/fib_pg" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	patch_idle) "$RT" record -o "$d" -e 'nothing:*' --subbuf-size 1M --num-subbuf 64 -- env LD_PRELOAD="$TMP/libpatch.so" "$TMP/fib_pg" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	esac
	if [ -d "$d" ]; then
		lost=$(lost_of "$TMP/err")
		n=$("$RT" stats "$d" 2>/dev/null | awk '/ lttng_ust_cyg_profile:func_(entry|exit)$/ { s += $1 } END { print s + 0 }')
	fi
	echo "$(ns_of "$out") $lost $n"
}
calls=$("$TMP/fib_none" "$N" | awk '/^calls/ { print $2 }')
variants=(none cyg_empty nop cyg_rt patch_rt patch_entry cyg_idle patch_idle)
for ((r = 0; r < R; r++)); do
	for v in "${variants[@]}"; do
		x=$(run "$v") || { echo "patch.sh: $v failed: $(cat "$TMP/err")" >&2; exit 1; }
		echo "$x" >>"$TMP/$v"
		echo "# round $r $v: ns/call lost events = $x" >&2
	done
done
med() { awk '{ print $1 }' "$TMP/$1" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mn() { awk '{ print $1 }' "$TMP/$1" | sort -g | head -1; }
for v in "${variants[@]}"; do
	echo "BENCH patch_${v}_ns_per_call $(med "$v") ns"
	echo "BENCH patch_${v}_ns_per_call_min $(mn "$v") ns"
done
add() { awk -v a="$(med "$1")" -v p="$(med none)" 'BEGIN { printf "%.2f", a - p }'; }
for v in cyg_empty nop cyg_rt patch_rt patch_entry cyg_idle patch_idle; do
	echo "BENCH patch_${v}_added_ns $(add "$v") ns"
done
echo "BENCH patch_patch_rt_over_cyg_rt_added $(awk -v a="$(add patch_rt)" -v b="$(add cyg_rt)" 'BEGIN { printf "%.2f", a / b }') x"
# the same ratio per round (neighbouring runs share the load), median
paired() { # A B -> median over rounds of (A - none) / (B - none)
	paste "$TMP/$1" "$TMP/$2" "$TMP/none" | awk '{ printf "%.4f\n", ($1 - $7) / ($4 - $7) }' |
		sort -g | awk '{a[NR] = $1} END {printf "%.2f (rounds: %.2f .. %.2f)", a[int((NR + 1) / 2)], a[1], a[NR]}'
}
echo "BENCH patch_patch_rt_over_cyg_rt_added_min $(awk -v a="$(mn patch_rt)" -v b="$(mn cyg_rt)" -v p="$(mn none)" 'BEGIN { printf "%.2f", (a - p) / (b - p) }') x"
echo "BENCH patch_patch_rt_over_cyg_rt_added_paired $(paired patch_rt cyg_rt) x"
echo "BENCH patch_patch_entry_over_cyg_rt_added_paired $(paired patch_entry cyg_rt) x"
echo "BENCH patch_patch_idle_over_cyg_idle_added_paired $(paired patch_idle cyg_idle) x"
# every run recorded each call's entry and exit (fib's and main's)
for v in cyg_rt patch_rt; do
	awk -v w=$((2 * (calls + 1))) -v v=$v '$3 != w { print "patch.sh: " v " recorded " $3 " events, expected " w; exit 1 }' "$TMP/$v" >&2 || exit 1
done
echo "BENCH patch_events_per_run $((2 * (calls + 1))) events (both variants, every run)"
echo "BENCH patch_lost_max $(cat "$TMP"/cyg_rt "$TMP"/patch_rt | awk '{ print $2 }' | sort -g | tail -1) events"
echo "# calls $calls, rounds $R, load $(cut -d' ' -f1 /proc/loadavg)"
