#!/usr/bin/env bash
# Draining on a busy machine (issue 13): a program logging BENCH_EVENTS
# (5 million) events per thread as fast as it can, with 1 then 2 threads
# (BENCH_THREADS="1 2"), recorded by `ringtrace record` and by an LTTng
# session with the same channel (discard mode, 4 MiB x 8 sub-buffers per
# CPU), BENCH_REPS (3) alternated runs each, medians:
#   quiet    the machine as it is (check `uptime`);
#   busy     one CPU-bound process per CPU at normal priority, each in a
#            session of its own (started here, stopped again);
#   paced    busy, both tracers at the same event rate: each thread paced to
#            LTTng's quiet ns/event of this run (the issue's target: at
#            LTTng's rate on a busy machine, no more losses than LTTng);
#   tiny     quiet, 4 KiB x 2 sub-buffers: most events discarded.
# Prints events lost (% of those emitted) and the loop's ns/event for each,
# and `discard_vs_record`: ns/event of `tiny` over `quiet` (the cost of an
# event the tracer discards against one it records, end to end through the
# tracepoint, diluted by the events tiny still records).
# Builds nothing: needs $BUILD/bin/{ringtrace,bench_rtr_loop,bench_lttng_loop}.
# As root it runs in a private mount namespace whose /var/run/lttng is an
# empty tmpfs, so that the LTTng session daemon is this script's own
# (started and stopped here) whatever else runs on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${RTR_BENCH_NS:-}" && $(id -u) -eq 0 ]] && command -v unshare >/dev/null; then
	exec unshare -m --propagation private env RTR_BENCH_NS=1 bash "$0" "$@"
fi
if [[ -n "${RTR_BENCH_NS:-}" ]]; then
	mount -t tmpfs none /var/run/lttng 2>/dev/null ||
		{ mkdir -p /var/run/lttng && mount -t tmpfs none /var/run/lttng; }
	export LTTNG_HOME=$(mktemp -d /tmp/rtr-drain-lttng.XXXXXX)
fi
BUILD=${BUILD:-build}
N=${BENCH_EVENTS:-5000000}
THREADS=${BENCH_THREADS:-1 2}
T=1
PACE=0
REPS=${BENCH_REPS:-3}
OUT=${BENCH_OUT:-bench/out}/drain-busy
rt="$BUILD/bin/ringtrace"
rloop="$BUILD/bin/bench_rtr_loop"
lloop="$BUILD/bin/bench_lttng_loop"

for f in "$rt" "$rloop"; do
	[[ -x "$f" ]] || { echo "drain-busy.sh: $f not found; build first (make build)" >&2; exit 1; }
done
if [[ ! -x "$lloop" ]] || ! command -v lttng >/dev/null || ! command -v lttng-sessiond >/dev/null; then
	echo "drain-busy.sh: LTTng-UST (lttng-tools, liblttng-ust-dev) not available; run make deps" >&2
	exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
. bench/lttng/sessiond.sh
session="rtrdrain$$"
hogs=()
stop_hogs() {
	local p
	for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${hogs[@]}"; do wait "$p" 2>/dev/null || true; done
	hogs=()
}
start_hogs() {
	local i
	for i in $(seq "$(nproc)"); do
		# in a session of its own, as other work on a machine would be
		# (with autogroup scheduling, CPU shares go to sessions first)
		setsid bash -c 'while :; do :; done' &
		hogs+=($!)
	done
	sleep 0.5
}
cleanup() {
	stop_hogs
	lttng destroy "$session" >/dev/null 2>&1 || true
	lttng_sessiond_stop
	rm -rf "$OUT"/trace-*
	[[ -n "${RTR_BENCH_NS:-}" ]] && rm -rf "$LTTNG_HOME"
	return 0
}
trap cleanup EXIT

lttng_sessiond_start

. bench/lib.sh

# -> "ns lost events"
run_rtr() { # subbuf_size num_subbuf
	local dir="$OUT/trace-rtr" out err ns lost events
	err=$(mktemp)
	out=$("$rt" record -o "$dir" --subbuf-size "$1" --num-subbuf "$2" -- "$rloop" "$N" "$T" "$PACE" 2>"$err")
	ns=$(awk '/^ns_per_event/ {print $2}' <<<"$out")
	events=$(awk '/^events/ {print $2}' <<<"$out")
	lost=$(sed -n 's/.* recorded, \([0-9]*\) lost.*/\1/p' "$err")
	rm -f "$err"
	rm -rf "$dir"
	echo "$ns ${lost:-unknown} $events"
}

run_lttng() { # subbuf_size num_subbuf
	local dir="$OUT/trace-lttng" out ns lost events
	lttng create "$session" --output="$dir" >/dev/null
	lttng enable-channel -u -s "$session" --discard --subbuf-size "$1" --num-subbuf "$2" c >/dev/null
	lttng enable-event -u -s "$session" -c c 'benchlt:tick' >/dev/null
	lttng start "$session" >/dev/null
	out=$("$lloop" "$N" "$T" "$PACE")
	lttng stop "$session" >/dev/null
	lost=$(lttng list "$session" -c c | sed -n 's/.*Discarded events: *\([0-9]*\).*/\1/p' | head -n1)
	lttng destroy "$session" >/dev/null
	rm -rf "$dir"
	ns=$(awk '/^ns_per_event/ {print $2}' <<<"$out")
	events=$(awk '/^events/ {print $2}' <<<"$out")
	echo "$ns ${lost:-unknown} $events"
}

# cond sb nsb: REPS alternated runs -> $OUT/{rtr,lttng}.cond
alternate() {
	local r l
	: >"$OUT/rtr.$1" && : >"$OUT/lttng.$1"
	for rep in $(seq "$REPS"); do
		r=$(run_rtr "$2" "$3")
		l=$(run_lttng "$2" "$3")
		echo "$r" >>"$OUT/rtr.$1"
		echo "$l" >>"$OUT/lttng.$1"
		echo "# $1 ${T}t rep $rep: ringtrace $r | lttng $l (ns/event lost events)"
	done
}

report() { # cond
	local t ns lostpct
	for t in rtr lttng; do
		ns=$(awk '{print $1}' "$OUT/$t.$1" | median)
		lostpct=$(awk '{print ($2 == "unknown" ? 0 : 100 * $2 / $3)}' "$OUT/$t.$1" | median)
		echo "BENCH drain.$t.ns_per_event.$1.${T}t $ns ns"
		echo "BENCH drain.$t.lost_pct.$1.${T}t $lostpct %"
		eval "${t}_ns_$1=$ns"
	done
}

echo "# $(uptime)"
for T in $THREADS; do
	PACE=0
	alternate quiet 4M 8
	report quiet
	alternate tiny 4K 2
	report tiny
	start_hogs
	echo "# busy: $(nproc) CPU-bound processes; $(uptime)"
	alternate busy 4M 8
	report busy
	PACE=$lttng_ns_quiet
	echo "# paced: each thread at most one event per $PACE ns (LTTng's quiet rate)"
	alternate paced 4M 8
	stop_hogs
	report paced
	PACE=0
	for t in rtr lttng; do
		eval "q=\$${t}_ns_quiet d=\$${t}_ns_tiny"
		echo "BENCH drain.ratio.$t.discard_vs_record.${T}t $(awk -v a="$d" -v b="$q" 'BEGIN {printf "%.2f", a / b}') ratio"
	done
done
