#!/bin/bash
# Per-event cost of the context fields (record --context): kt_prog's loop
# of N kt:mark events (two u32 fields), recorded without a context, with
# vtid alone, with vpid,vtid,ip (what babeltrace2's debug-info needs) and
# with all five; interleaved rounds, medians. Prints BENCH lines: ns per
# event of each and the difference against no context, measured in the
# same run. The machine is shared: read the ratios, not the absolutes.
# Usage: bench/instrument/context.sh BUILD_DIR [N] [ROUNDS]
set -u
B=${1:?build dir} N=${2:-1000000} R=${3:-7}
RT=$B/bin/ringtrace PROG=$B/tests/kt_prog
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
variants=("none" "vtid" "vpid,vtid,ip" "ip,vtid,vpid,procname,pthread_id")
for ((r = 0; r < R; r++)); do
	for i in "${!variants[@]}"; do
		v=${variants[$i]} ctx=()
		[ "$v" != none ] && ctx=(--context "$v")
		rm -rf "$TMP/t"
		ns=$("$RT" record -q -o "$TMP/t" --subbuf-size 1M --num-subbuf 32 "${ctx[@]}" \
			-- "$PROG" loop "$N") || exit 1
		echo "$ns" >>"$TMP/v$i"
		[ "$r" = 0 ] && du -sb "$TMP/t" | awk '{print $1}' >"$TMP/b$i"
	done
done
med() { sort -g "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
base=$(med "$TMP/v0")
for i in "${!variants[@]}"; do
	m=$(med "$TMP/v$i")
	name=${variants[$i]//,/+}
	echo "BENCH context_${name}_ns_per_event $m ns"
	echo "BENCH context_${name}_bytes_per_event $(awk -v b="$(cat "$TMP/b$i")" -v n="$N" 'BEGIN {printf "%.1f", b / n}') B"
	[ "$i" -gt 0 ] && echo "BENCH context_${name}_extra_ns $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.1f", a - b}') ns"
done
