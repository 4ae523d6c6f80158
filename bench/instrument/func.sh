#!/bin/bash
# Function entry/exit against LTTng-UST's cyg-profile (fast and full) and
# uftrace, on one program built once with -finstrument-functions (fib.c,
# fib(N): 2*F(N+1)-1 calls). Per run: ns per instrumented call (the
# program's own clock around fib, hooks included) and bytes per call of the
# trace on disk (stream files; uftrace: its data files). Variants are
# interleaved, ROUNDS rounds, medians; BENCH lines give each and the ratios
# measured in the same run. Losses are reported (a run that lost events is
# cheaper than it should be). The machine is shared: read the ratios.
# Usage: bench/instrument/func.sh BUILD_DIR [N] [ROUNDS]
set -u
B=$(cd "${1:?build dir}" && pwd) N=${2:-27} R=${3:-5}
RT=$B/bin/ringtrace
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
LIBDIR=$(dirname "$(ldconfig -p | awk '/liblttng-ust-cyg-profile-fast.so / { print $NF; exit }')")
session="rtrfunc$$"
. "$HERE/../lttng/sessiond.sh"
cleanup() {
	lttng destroy "$session" >/dev/null 2>&1 || true
	lttng_sessiond_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
for t in lttng lttng-sessiond uftrace cc; do
	command -v $t >/dev/null || { echo "func.sh: $t missing (scripts/deps.sh)" >&2; exit 1; }
done
[ -e "$LIBDIR/liblttng-ust-cyg-profile.so" ] || { echo "func.sh: liblttng-ust-cyg-profile.so missing" >&2; exit 1; }
cc -O2 -g -finstrument-functions -o "$TMP/fib" "$HERE/fib.c" || exit 1
lttng_sessiond_start
bytes() { find "$1" -type f ! -name metadata ! -path '*/index/*' ! -name '*.map' ! -name info ! -name task.txt ! -name '*.sym' ! -name '*.dbg' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
ns_of() { awk '/^ns_per_call/ { print $2 }' "$1"; }
calls=$("$TMP/fib" "$N" | awk '/^calls/ { print $2 }')

run() { # variant -> "ns bytes lost"
	local v=$1 d=$TMP/t out=$TMP/out lost=0
	rm -rf "$d"
	case $v in
	plain) "$TMP/fib" "$N" >"$out" ;;
	rt_full | rt_fast | rt_full_ctx)
		local a=(--func)
		[ "$v" = rt_fast ] && a=(--func=fast)
		[ "$v" = rt_full_ctx ] && a=(--func --context vpid,vtid,ip)
		"$RT" record -o "$d" "${a[@]}" --subbuf-size 1M --num-subbuf 64 -- "$TMP/fib" "$N" >"$out" 2>"$TMP/err" || return 1
		lost=$(sed -n 's/.* recorded, \([0-9]*\) lost.*/\1/p' "$TMP/err") ;;
	lttng_full | lttng_fast)
		local prov=lttng_ust_cyg_profile lib=liblttng-ust-cyg-profile.so
		[ "$v" = lttng_fast ] && prov=lttng_ust_cyg_profile_fast lib=liblttng-ust-cyg-profile-fast.so
		lttng create "$session" --output="$d" >/dev/null
		lttng enable-channel -u -s "$session" --subbuf-size 1M --num-subbuf 64 c >/dev/null
		lttng enable-event -u -s "$session" -c c "$prov:*" >/dev/null
		lttng start "$session" >/dev/null
		LD_PRELOAD=$LIBDIR/$lib "$TMP/fib" "$N" >"$out"
		lttng stop "$session" >/dev/null
		lost=$(lttng list "$session" -c c | sed -n 's/.*Discarded events: *\([0-9]*\).*/\1/p' | head -n1)
		lttng destroy "$session" >/dev/null ;;
	uftrace)
		uftrace record -d "$d" --no-libcall "$TMP/fib" "$N" >"$out" 2>"$TMP/err" || return 1 ;;
	esac
	echo "$(ns_of "$out") $( [ -d "$d" ] && bytes "$d" || echo 0) ${lost:-?}"
}

variants=(plain rt_full rt_fast rt_full_ctx lttng_full lttng_fast uftrace)
for ((r = 0; r < R; r++)); do
	for v in "${variants[@]}"; do
		x=$(run "$v") || { echo "func.sh: $v failed" >&2; exit 1; }
		echo "$x" >>"$TMP/$v"
		echo "# round $r $v: ns/call bytes lost = $x" >&2
	done
done
med() { awk -v c="$2" '{ print $c }' "$TMP/$1" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for v in "${variants[@]}"; do
	echo "BENCH func_${v}_ns_per_call $(med "$v" 1) ns"
	echo "BENCH func_${v}_ns_per_call_min $(awk '{ print $1 }' "$TMP/$v" | sort -g | head -1) ns"
	[ "$v" != plain ] && echo "BENCH func_${v}_bytes_per_call $(awk -v b="$(med "$v" 2)" -v c="$calls" 'BEGIN { printf "%.1f", b / c }') B" &&
		echo "BENCH func_${v}_lost_max $(awk '{ print $3 }' "$TMP/$v" | sort -g | tail -1) events"
done
ratio() { awk -v a="$(med "$1" 1)" -v b="$(med "$2" 1)" -v p="$(med plain 1)" 'BEGIN { printf "%.2f", (a - p) / (b - p) }'; }
echo "BENCH func_lttng_fast_over_rt_fast_added_ns $(ratio lttng_fast rt_fast) x"
echo "BENCH func_lttng_full_over_rt_full_added_ns $(ratio lttng_full rt_full) x"
echo "BENCH func_lttng_fast_over_rt_full_added_ns $(ratio lttng_fast rt_full) x"
echo "BENCH func_uftrace_over_rt_full_added_ns $(ratio uftrace rt_full) x"
echo "BENCH func_calls $calls calls"
