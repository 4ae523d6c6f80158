#!/usr/bin/env bash
# Kernel recording against trace-cmd and perf (docs/design/kernel.md §12).
# One workload (kt_plain: N getppid() calls with SPIN ns of busy loop
# between them, i.e. hundreds of thousands of syscall events per second,
# plus the scheduler's events) recorded by `ringtrace record --kernel`,
# `trace-cmd record` and `perf record` in turn, the same events, the same
# buffer size per CPU, interleaved for ROUNDS rounds; medians of: events
# recorded and lost, the recorder's CPU time (its processes' user + system
# time, the workload's own time subtracted), bytes per event on disk. Then
# the cost of a uprobe hit and of a counter context per user-space event.
# Prints `BENCH kernel.<name> <value> <unit>`.
# Root needed. The machine is shared and noisy: compare the ratios.
#
#   BUILD=build ROUNDS=5 N=500000 SPIN=1000 SIZES="256 4096" bench/kernel.sh
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
N=${N:-500000}
SPIN=${SPIN:-1000}
SIZES=${SIZES:-"256 4096"}
RT=$BUILD/bin/ringtrace
PLAIN=$BUILD/tests/kt_plain
SHIM=$BUILD/tests/libkt_tcshim.so
for f in "$RT" "$PLAIN" "$SHIM"; do
	[[ -e "$f" ]] || { echo "kernel.sh: $f not found; build first (make build)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "kernel.sh: needs root (kernel events)" >&2; exit 1; }
have_tc=1 have_perf=1
command -v trace-cmd >/dev/null || { echo "kernel.sh: no trace-cmd: skipped" >&2; have_tc=0; }
command -v perf >/dev/null || { echo "kernel.sh: no perf: skipped" >&2; have_perf=0; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
EV=(sched:sched_switch sched:sched_waking syscalls:sys_enter_getppid syscalls:sys_exit_getppid)
tc_ev=() perf_ev=()
for e in "${EV[@]}"; do
	tc_ev+=(-e "$e")
	perf_ev+=(-e "$e")
done

# run TOOL SIZE_KB: one recording; appends "tool size events lost cpu_ms bytes" to $TMP/res
run() {
	local tool=$1 kb=$2 out="$TMP/out.$1" tm="$TMP/time" ev lost bytes total load
	rm -rf "$out" "$out.dat" "$out.data"
	case $tool in
	ringtrace)
		/usr/bin/time -f "%U %S" -o "$tm" "$RT" record -o "$out" --kernel-buffer-size "${kb}k" \
			-k "$(IFS=,; echo "${EV[*]}")" -- "$PLAIN" getppid "$N" "$SPIN" >"$TMP/load" 2>"$TMP/err" || return 1
		read -r ev lost < <(sed -n 's/.*kernel trace written to .*: \([0-9]*\) events\? recorded, \([0-9]*\) lost/\1 \2/p' "$TMP/err")
		bytes=$(du -sb "$out/kernel" | cut -f1)
		;;
	trace-cmd | trace-cmd-v6)
		# the shim: this sandbox refuses the function tracer's files
		# (kernel.md §10). v6: trace-cmd's uncompressed file format (its
		# default, v7, compresses the pages with zstd)
		local v=()
		[[ $tool == trace-cmd-v6 ]] && v=(--file-version 6)
		LD_PRELOAD=$SHIM /usr/bin/time -f "%U %S" -o "$tm" trace-cmd record -q "${v[@]}" -F -c -C x86-tsc \
			-b "$kb" "${tc_ev[@]}" -o "$out.dat" -- "$PLAIN" getppid "$N" "$SPIN" >"$TMP/load" 2>"$TMP/err" ||
			return 1
		# counted through our conversion (checked against trace-cmd report by the tests)
		"$RT" stats "$out.dat" >"$TMP/st" 2>/dev/null || return 1
		ev=$(sed -n 's/^Events *\([0-9]*\)$/\1/p' "$TMP/st")
		lost=$(sed -n 's/^Discarded *\([0-9]*\) events.*/\1/p' "$TMP/st")
		bytes=$(stat -c %s "$out.dat")
		;;
	perf)
		/usr/bin/time -f "%U %S" -o "$tm" perf record -q -m $((kb / 4)) "${perf_ev[@]}" -o "$out.data" \
			-- "$PLAIN" getppid "$N" "$SPIN" >"$TMP/load" 2>"$TMP/err" || return 1
		perf report -i "$out.data" --stats >"$TMP/st" 2>/dev/null
		ev=$(awk '/^ *SAMPLE events:/ && !done { print $3; done = 1 }' "$TMP/st")
		lost=$(awk '/LOST_SAMPLES events:|^ *LOST events:/ { s += $3 } END { print s + 0 }' "$TMP/st")
		bytes=$(stat -c %s "$out.data")
		;;
	esac
	read -r u s <"$tm"
	total=$(echo "$u $s" | awk '{ printf "%.0f", ($1 + $2) * 1000 }')
	load=$(awk 'END { printf "%.0f", $2 / 1000 }' "$TMP/load")
	echo "$tool $kb ${ev:-0} ${lost:-0} $((total - load)) $bytes" >>"$TMP/res"
}

tools=(ringtrace)
((have_tc)) && tools+=(trace-cmd trace-cmd-v6)
((have_perf)) && tools+=(perf)
for kb in $SIZES; do
	for ((r = 0; r < ROUNDS; r++)); do
		for t in "${tools[@]}"; do
			run "$t" "$kb" || echo "kernel.sh: $t failed: $(tail -2 "$TMP/err")" >&2
		done
	done
done

. bench/lib.sh
echo "# workload: $N getppid calls, $SPIN ns apart; events: ${EV[*]}; $ROUNDS rounds, medians"
for kb in $SIZES; do
	for t in "${tools[@]}"; do
		n=$(tr -d - <<<"$t")
		awk -v t="$t" -v k="$kb" '$1 == t && $2 == k' "$TMP/res" >"$TMP/sel"
		[[ -s "$TMP/sel" ]] || continue
		ev=$(cut -d' ' -f3 "$TMP/sel" | median)
		lost=$(cut -d' ' -f4 "$TMP/sel" | median)
		cpu=$(cut -d' ' -f5 "$TMP/sel" | median)
		bpe=$(awk '{ if ($3 > 0) print $6 / $3 }' "$TMP/sel" | median)
		printf 'BENCH kernel.%s.b%sk.events %s events\n' "$n" "$kb" "$ev"
		printf 'BENCH kernel.%s.b%sk.lost %s events\n' "$n" "$kb" "$lost"
		printf 'BENCH kernel.%s.b%sk.cpu %s ms\n' "$n" "$kb" "$cpu"
		printf 'BENCH kernel.%s.b%sk.bytes_per_event %.1f bytes\n' "$n" "$kb" "$bpe"
		eval "m_${n}_${kb}=\"$ev $lost $cpu $bpe\""
	done
	for p in tracecmd tracecmdv6 perf; do
		v="m_${p}_${kb}"
		[[ -n "${!v:-}" ]] || continue
		read -r e1 l1 c1 b1 <<<"$(eval echo "\$m_ringtrace_${kb}")"
		read -r e2 l2 c2 b2 <<<"${!v}"
		awk -v p="$p" -v k="$kb" -v c1="$c1" -v c2="$c2" -v b1="$b1" -v b2="$b2" -v l1="$l1" -v l2="$l2" 'BEGIN {
			printf "BENCH kernel.ratio.b%sk.cpu_ringtrace_over_%s %.2f x\n", k, p, (c2 > 0 ? c1 / c2 : 0)
			printf "BENCH kernel.ratio.b%sk.bytes_per_event_ringtrace_over_%s %.2f x\n", k, p, (b2 > 0 ? b1 / b2 : 0)
			printf "BENCH kernel.ratio.b%sk.lost_ringtrace_minus_%s %d events\n", k, p, l1 - l2 }'
	done
done

# A uprobe hit: plain_work() per call, with and without a probe on it
# (entry with two arguments, and entry + return), interleaved.
U=${U:-200000}
for ((r = 0; r < ROUNDS; r++)); do
	"$PLAIN" "$U" | awk '{ print "none", $4 }' >>"$TMP/up"
	"$RT" record -q -o "$TMP/u1.$r" --probe "$PLAIN:plain_work" --probe-arg a --probe-arg b -- "$PLAIN" "$U" 2>/dev/null |
		awk '{ print "entry", $4 }' >>"$TMP/up"
	"$RT" record -q -o "$TMP/u2.$r" --probe "$PLAIN:plain_work" --probe-arg a --probe-arg b \
		--probe-ret "$PLAIN:plain_work" -- "$PLAIN" "$U" 2>/dev/null | awk '{ print "both", $4 }' >>"$TMP/up"
done
base=$(awk '$1 == "none" { print $2 }' "$TMP/up" | median)
e=$(awk '$1 == "entry" { print $2 }' "$TMP/up" | median)
b=$(awk '$1 == "both" { print $2 }' "$TMP/up" | median)
awk -v a="$base" -v e="$e" -v b="$b" 'BEGIN {
	printf "BENCH kernel.uprobe.loop_ns %.1f ns\n", a
	printf "BENCH kernel.uprobe.entry_hit_ns %.0f ns\n", e - a
	printf "BENCH kernel.uprobe.entry_return_hit_ns %.0f ns\n", b - a }'

# A counter context: ns per user-space event with no context (the inlined
# fast path, unchanged), one counter, three counters, interleaved.
C=${C:-200000}
PROG=$BUILD/tests/kt_prog
for ((r = 0; r < ROUNDS; r++)); do
	"$RT" record -q -o "$TMP/c0.$r" -- "$PROG" loop "$C" 2>/dev/null | awk '{ print "none", $1 }' >>"$TMP/ctx"
	"$RT" record -q -o "$TMP/c1.$r" --context perf:page-faults -- "$PROG" loop "$C" 2>/dev/null |
		awk '{ print "one", $1 }' >>"$TMP/ctx"
	"$RT" record -q -o "$TMP/c3.$r" --context perf:page-faults,perf:context-switches,perf:cpu-clock \
		-- "$PROG" loop "$C" 2>/dev/null | awk '{ print "three", $1 }' >>"$TMP/ctx"
	rm -rf "$TMP"/c?."$r"
done
c0=$(awk '$1 == "none" { print $2 }' "$TMP/ctx" | median)
c1=$(awk '$1 == "one" { print $2 }' "$TMP/ctx" | median)
c3=$(awk '$1 == "three" { print $2 }' "$TMP/ctx" | median)
awk -v a="$c0" -v b="$c1" -v c="$c3" 'BEGIN {
	printf "BENCH kernel.context.none_event_ns %.1f ns\n", a
	printf "BENCH kernel.context.one_counter_event_ns %.1f ns\n", b
	printf "BENCH kernel.context.three_counters_event_ns %.1f ns\n", c
	printf "BENCH kernel.context.one_counter_cost_ns %.1f ns\n", b - a
	printf "BENCH kernel.context.one_counter_over_none %.1f x\n", (a > 0 ? b / a : 0) }'
