#!/usr/bin/env bash
# ringtrace vs LTTng-UST on the same loop: one event with one uint64_t
# field, BENCH_EVENTS (10 million) times per thread, one thread then two,
# each tracer in discard mode with the same buffers, big enough to lose
# nothing (4 MiB x 32 per CPU: with 4 MiB x 8 LTTng lost events here), run
# alternately BENCH_REPS times. ringtrace is recorded by `ringtrace record`;
# LTTng by a session of its own session daemon (started here if none runs,
# and stopped again). Prints `BENCH compare.<name> <value> <unit>` lines:
# median (and best) ns/event of a thread's loop, bytes/event on disk (stream files),
# packet overhead over 12 bytes/event, lost events, and the ratios.
# Then the same loop in flight-recorder mode (BENCH_OVERWRITE=0 skips it):
# `ringtrace record --overwrite` against an LTTng snapshot session with an
# overwrite channel, both written out once at the end; only ns/event and
# their ratio are compared there (what a snapshot keeps differs).
# Builds nothing: needs $BUILD/bin/{ringtrace,bench_rtr_loop,bench_lttng_loop}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${BENCH_EVENTS:-10000000}
REPS=${BENCH_REPS:-5}
OUT=${BENCH_OUT:-bench/out}/compare-lttng
rt="$BUILD/bin/ringtrace"
rloop="$BUILD/bin/bench_rtr_loop"
lloop="$BUILD/bin/bench_lttng_loop"

for f in "$rt" "$rloop"; do
	[[ -x "$f" ]] || { echo "compare-lttng.sh: $f not found; build first (make build)" >&2; exit 1; }
done
if [[ ! -x "$lloop" ]] || ! command -v lttng >/dev/null || ! command -v lttng-sessiond >/dev/null; then
	echo "compare-lttng.sh: LTTng-UST (lttng-tools, liblttng-ust-dev) not available; run make deps" >&2
	exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
. bench/lttng/sessiond.sh
session="rtrbench$$"
cleanup() {
	lttng destroy "$session" >/dev/null 2>&1 || true
	lttng_sessiond_stop
}
trap cleanup EXIT

# A session daemon: ours only if none answers.
lttng_sessiond_start

# Bytes of the stream files under a trace directory (no metadata, no index).
stream_bytes() {
	find "$1" -type f ! -name metadata ! -path '*/index/*' -printf '%s\n' | awk '{s += $1} END {print s + 0}'
}

. bench/lib.sh

run_rtr() { # mode threads rep -> "ns bytes lost events" (mode: discard|overwrite)
	local dir="$OUT/rtr-$1-$2-$3" out err ns lost events ow=()
	[[ "$1" == overwrite ]] && ow=(--overwrite)
	err=$(mktemp)
	out=$("$rt" record -o "$dir" "${ow[@]}" --subbuf-size 4M --num-subbuf 32 --mem-limit 2G -- \
		"$rloop" "$N" "$2" 2>"$err")
	ns=$(awk '/^ns_per_event/ {print $2}' <<<"$out")
	events=$(awk '/^events/ {print $2}' <<<"$out")
	lost=$(sed -n 's/.* recorded, \([0-9]*\) lost.*/\1/p' "$err")
	rm -f "$err"
	echo "$ns $(stream_bytes "$dir") ${lost:-unknown} $events"
	rm -rf "$dir"
}

# overwrite: a snapshot session (LTTng's flight recorder), written at the end.
run_lttng() { # mode threads rep -> "ns bytes lost events"
	local dir="$OUT/lttng-$1-$2-$3" out ns lost events snap=() ow=--discard
	[[ "$1" == overwrite ]] && snap=(--snapshot) && ow=--overwrite
	lttng create "$session" "${snap[@]}" --output="$dir" >/dev/null
	lttng enable-channel -u -s "$session" "$ow" --subbuf-size 4M --num-subbuf 32 c >/dev/null
	lttng enable-event -u -s "$session" -c c 'benchlt:tick' >/dev/null
	lttng start "$session" >/dev/null
	out=$("$lloop" "$N" "$2")
	lttng stop "$session" >/dev/null
	[[ "$1" == overwrite ]] && lttng snapshot record -s "$session" >/dev/null
	lost=$(lttng list "$session" -c c | sed -n 's/.*Discarded events: *\([0-9]*\).*/\1/p' | head -n1)
	lttng destroy "$session" >/dev/null
	ns=$(awk '/^ns_per_event/ {print $2}' <<<"$out")
	events=$(awk '/^events/ {print $2}' <<<"$out")
	echo "$ns $(stream_bytes "$dir") ${lost:-unknown} $events"
	rm -rf "$dir"
}

# REPS alternated runs of both tracers: $OUT/{rtr,lttng}-MODE.THREADS, a
# "ns bytes lost events" line per run.
alternate() { # mode threads
	local r l
	: >"$OUT/rtr-$1.$2" && : >"$OUT/lttng-$1.$2"
	for rep in $(seq "$REPS"); do
		r=$(run_rtr "$1" "$2" "$rep")
		l=$(run_lttng "$1" "$2" "$rep")
		echo "$r" >>"$OUT/rtr-$1.$2"
		echo "$l" >>"$OUT/lttng-$1.$2"
		echo "# $1 rep $rep, $2 thread(s): ringtrace $r | lttng $l (ns/event bytes lost events)"
	done
}

# The dormant cost (no session: one untaken branch per event).
dormant=$("$rloop" "$N" 1 | awk '/^ns_per_event/ {print $2}')
echo "BENCH compare.rtr.ns_per_event_disabled $dormant ns"

for threads in 1 2; do
	alternate discard "$threads"
	for t in rtr lttng; do
		f="$OUT/$t-discard.$threads"
		ns=$(awk '{print $1}' "$f" | median)
		nsmin=$(awk '{print $1}' "$f" | sort -g | head -n1)
		bytes=$(awk '{print $2}' "$f" | median)
		events=$(awk '{print $4}' "$f" | median)
		lost=$(awk '{s += ($3 == "unknown" ? 0 : $3)} END {print s + 0}' "$f")
		bpe=$(awk -v b="$bytes" -v e="$events" 'BEGIN {printf "%.3f", b / e}')
		echo "BENCH compare.$t.ns_per_event.${threads}t $ns ns"
		echo "BENCH compare.$t.ns_per_event_best.${threads}t $nsmin ns"
		echo "BENCH compare.$t.bytes_per_event.${threads}t $bpe bytes"
		echo "BENCH compare.$t.lost.${threads}t $lost events"
		eval "${t}_ns=$ns ${t}_nsmin=$nsmin ${t}_bpe=$bpe ${t}_bytes=$bytes ${t}_events=$events"
	done
	echo "BENCH compare.rtr.packet_overhead.${threads}t $(awk -v b="$rtr_bytes" -v e="$rtr_events" 'BEGIN {printf "%.4f", (b / (12.0 * e) - 1) * 100}') %"
	echo "BENCH compare.ratio.lttng_vs_rtr.ns.${threads}t $(awk -v a="$lttng_ns" -v b="$rtr_ns" 'BEGIN {printf "%.2f", a / b}') ratio"
	echo "BENCH compare.ratio.lttng_vs_rtr.ns_best.${threads}t $(awk -v a="$lttng_nsmin" -v b="$rtr_nsmin" 'BEGIN {printf "%.2f", a / b}') ratio"
	echo "BENCH compare.ratio.lttng_vs_rtr.bytes.${threads}t $(awk -v a="$lttng_bpe" -v b="$rtr_bpe" 'BEGIN {printf "%.3f", a / b}') ratio"
done

[[ "${BENCH_OVERWRITE:-1}" == 1 ]] || exit 0

for threads in 1 2; do
	alternate overwrite "$threads"
	rns=$(awk '{print $1}' "$OUT/rtr-overwrite.$threads" | median)
	lns=$(awk '{print $1}' "$OUT/lttng-overwrite.$threads" | median)
	echo "BENCH compare.rtr.ns_per_event.overwrite.${threads}t $rns ns"
	echo "BENCH compare.lttng.ns_per_event.overwrite.${threads}t $lns ns"
	echo "BENCH compare.ratio.lttng_vs_rtr.ns.overwrite.${threads}t $(awk -v a="$lns" -v b="$rns" 'BEGIN {printf "%.2f", a / b}') ratio"
done
