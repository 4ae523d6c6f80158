#!/bin/bash
# Counters as context (`record --context perf:...`): every event of the
# program carries its thread's counters, and they grow by the work done
# between two events: 64 MiB touched = 16384 page faults, ten 1 ms sleeps
# >= 10 context switches, 20 ms of spinning >= 20 ms of cpu-clock; a second
# thread has counters of its own (1024 faults for its 4 MiB). babeltrace2
# reads the context and prints what `ringtrace view` prints; counters this
# machine cannot count are refused with a clear message.
# Usage: context.sh RINGTRACE KT_PROG
set -u
RT=$1 PROG=$2
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$RT" record -q -o "$TMP/t" --context perf:page-faults,perf:context-switches,perf:cpu-clock \
	-- "$PROG" counters 2>"$TMP/rec.err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "record: $(cat "$TMP/rec.err")"
babeltrace2 "$TMP/t" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt2.err")"
[ -s "$TMP/bt2.err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/bt2.err")"
"$RT" view "$TMP/t" | cmp -s - "$TMP/bt2.txt" || fail "ringtrace view differs from babeltrace2"
# "seq step pf cs cpu" per event
sed -n 's/.* kt:mark: { cpu_id = [0-9]* }, { perf_thread_page_fault = \([0-9]*\), perf_thread_context_switches = \([0-9]*\), perf_thread_cpu_clock = \([0-9]*\) }, { seq = \([0-9]*\), step = \([0-9]*\) }$/\4 \5 \1 \2 \3/p' \
	"$TMP/bt2.txt" >"$TMP/v"
[ "$(wc -l <"$TMP/v")" -eq 6 ] || fail "expected 6 events with counters: $(cat "$TMP/bt2.txt")"
val() { awk -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { print $c }' "$TMP/v"; }
pf=$(($(val 0 1 3) - $(val 0 0 3)))
cs=$(($(val 0 2 4) - $(val 0 1 4)))
cpu=$(($(val 0 3 5) - $(val 0 2 5)))
pf2=$(($(val 1 1 3) - $(val 1 0 3)))
[ "$pf" -ge 16384 ] && [ "$pf" -le 16448 ] || fail "page faults for 64 MiB: $pf"
if [ "$(id -u)" -eq 0 ]; then
	[ "$cs" -ge 10 ] || fail "context switches over ten sleeps: $cs"
fi
# 20 ms by the thread's CLOCK_THREAD_CPUTIME_ID between the two marks; the
# counter's own reads sit a little inside them (19.96 ms seen under load)
[ "$cpu" -ge 19000000 ] && [ "$cpu" -lt 1000000000 ] || fail "cpu-clock over 20 ms of spinning: $cpu ns"
[ "$pf2" -ge 1024 ] && [ "$pf2" -le 1088 ] || fail "second thread's page faults for 4 MiB: $pf2"
[ "$(val 1 0 3)" -lt 1000 ] || fail "the second thread's counters are not its own: $(val 1 0 3)"
echo "counters: +$pf page faults (64 MiB), +$cs context switches (10 sleeps), +$cpu ns cpu-clock (20 ms), second thread +$pf2 faults (4 MiB)"

# what cannot be counted here, or does not exist: refused, nothing run
"$RT" record -q -o "$TMP/bad" --context perf:no-such -- true 2>"$TMP/bad.err" && fail "an unknown counter was accepted"
grep -q "perf:no-such: unknown" "$TMP/bad.err" || fail "unknown counter: $(cat "$TMP/bad.err")"
if ! "$RT" record -q -o "$TMP/hw" --context perf:cycles -- true 2>"$TMP/hw.err"; then
	grep -q "perf:cycles: this machine cannot count it" "$TMP/hw.err" || fail "hardware counter: $(cat "$TMP/hw.err")"
	echo "perf:cycles refused here: $(cat "$TMP/hw.err")"
fi
