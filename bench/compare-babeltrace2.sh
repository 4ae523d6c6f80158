#!/usr/bin/env bash
# ringtrace's reader against babeltrace2 2.0 on the same >= 1 GB trace:
#   text:    babeltrace2 TRACE >/dev/null     vs  ringtrace view TRACE >/dev/null
#   decode:  babeltrace2 TRACE -o dummy       vs  ringtrace stats TRACE
# run one after the other. Prints BENCH lines (events/s, MB/s, peak RSS,
# ratios). The trace (LTTng layout: compact headers, two per-CPU streams,
# mixed events) is generated once into bench/out/ by rtr_bench_gen_trace.
# Env: BUILD (build dir), RTR_BENCH_EVENTS (default 80000000, ~1.05 GB),
#      RTR_BENCH_TRACE (use an existing trace directory instead),
#      RTR_BENCH_RUNS (default 1: runs of each command; the median time and
#      the largest peak RSS are reported).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RT=$BUILD/bin/ringtrace
GEN=$BUILD/bin/rtr_bench_gen_trace
EVENTS=${RTR_BENCH_EVENTS:-80000000}
RUNS=${RTR_BENCH_RUNS:-1}
TRACE=${RTR_BENCH_TRACE:-bench/out/reader-trace-$EVENTS}
BT2=$(command -v babeltrace2 || true)
TIME=/usr/bin/time

[ -x "$RT" ] || { echo "missing $RT (build first)"; exit 1; }
[ -x "$TIME" ] || { echo "missing /usr/bin/time (apt-get install time)"; exit 1; }
if [ ! -f "$TRACE/metadata" ]; then
	[ -x "$GEN" ] || { echo "missing $GEN"; exit 1; }
	mkdir -p "$(dirname "$TRACE")"
	echo "generating $EVENTS events into $TRACE"
	"$GEN" "$TRACE" "$EVENTS" 2 >"$TRACE.events"
fi
n=$(cat "$TRACE.events" 2>/dev/null || echo "$EVENTS")
bytes=$(du -sb "$TRACE" | cut -f1)
echo "trace: $TRACE, $n events, $((bytes / 1000000)) MB"
# warm the page cache so every run reads from memory
cat "$TRACE"/* >/dev/null

run() { # cmd... ; runs it RUNS times, sets SECS (median) and RSS_KB (max)
	local f i s r all=""
	f=$(mktemp)
	RSS_KB=0
	for ((i = 0; i < RUNS; i++)); do
		"$TIME" -f "%e %M" -o "$f" "$@" >/dev/null 2>/dev/null || { echo "$1 failed"; cat "$f"; rm -f "$f"; return 1; }
		read -r s r <"$f"
		all="$all $s"
		[ "$r" -gt "$RSS_KB" ] && RSS_KB=$r
	done
	rm -f "$f"
	SECS=$(echo "$all" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	[ "$RUNS" -gt 1 ] && echo "runs:$all s" || true
}
report() { # prefix
	local eps mbs
	eps=$(awk -v n="$n" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
	mbs=$(awk -v b="$bytes" -v s="$SECS" 'BEGIN { printf "%.1f", b / s / 1e6 }')
	echo "BENCH reader.$1_seconds $SECS s"
	echo "BENCH reader.$1_events_per_s $eps events/s"
	echo "BENCH reader.$1_mb_per_s $mbs MB/s"
	echo "BENCH reader.$1_peak_rss $((RSS_KB / 1024)) MiB"
	EPS=$eps
}

if [ -n "$BT2" ]; then
	run "$BT2" "$TRACE"; report bt2_text; bt2_text=$EPS
fi
run "$RT" view "$TRACE"; report view; view=$EPS
if [ -n "$BT2" ]; then
	run "$BT2" "$TRACE" -o dummy; report bt2_dummy; bt2_dummy=$EPS
fi
run "$RT" stats "$TRACE"; report stats; stats=$EPS
if [ -n "$BT2" ]; then
	awk -v a="$view" -v b="$bt2_text" 'BEGIN { printf "BENCH reader.view_vs_bt2_text %.2f x (target >= 10)\n", a / b }'
	awk -v a="$stats" -v b="$bt2_dummy" 'BEGIN { printf "BENCH reader.stats_vs_bt2_dummy %.2f x (target >= 20)\n", a / b }'
fi
