#!/bin/bash
# Crash survival, a stuck program, many sessions at once (issue 13):
# - six sessions with different filters record the same programs; each
#   trace holds exactly the events its filter accepts (babeltrace2);
# - a program killed with SIGKILL after committing its events loses none
#   of them (its buffers are the daemon's too: salvaged when it is gone);
# - a stopped program (SIGSTOP: it never answers) does not hold back
#   `start`/`stop`: they answer within the per-process deadline, name it,
#   and the other programs are traced in full;
# - a control client killed in the middle of a command harms nothing.
# docs/design/daemon.md §2-§3.
. "$(dirname "$0")/lib.sh"
N=1000
S=6

$RT create s0 -o "$WORK/o0" >/dev/null || { fail "create"; exit 1; }
# session k: val = 3i - 100 < 500k -> i < (500k + 100) / 3, capped at N
for k in $(seq 0 $((S - 1))); do
	[ $k -gt 0 ] && { $RT create s$k -o "$WORK/o$k" >/dev/null || fail "create s$k"; }
	$RT enable-channel -s s$k --subbuf-size 256K --num-subbuf 8 c >/dev/null || fail "channel s$k"
	$RT enable-event -s s$k -c c dmn:tick --filter "val < $((500 * k))" >/dev/null || fail "event s$k"
	$RT start s$k >/dev/null || fail "start s$k"
done
expect() { local n=$(((500 * $1 + 100 + 2) / 3)); [ $n -gt $N ] && n=$N; echo $n; }

# a program that commits N events, then is killed with SIGKILL
bg "$APP" hold $N "$WORK/held"; K=$LAST
for _ in $(seq 600); do [ -s "$WORK/held" ] && break; sleep 0.05; done
check_eq "program committed" "$N" "$(cat "$WORK/held" 2>/dev/null)"
kill -KILL "$K"; wait_pid "$K" 10

# a stuck program (stopped: it never answers) and a well-behaved one
bg "$APP" wait "$WORK/go" $N; T=$LAST
wait_for "$T \(dmn_app\)" $RT list
kill -STOP "$T"
$RT create late -o "$WORK/olate" >/dev/null || fail "create late"
$RT enable-event -s late dmn:tick >/dev/null || fail "enable late"
$RT start late >"$WORK/start.late" 2>&1 || fail "start late: $(cat "$WORK/start.late")"
cat "$WORK/start.late"
grep -q "did not answer in time: $T (dmn_app)" "$WORK/start.late" || fail "start late does not name the stuck program"
bg "$APP" run $N; G=$LAST
wait_pid "$G" 30

# a control client killed in the middle of a command
$RT list >/dev/null & C=$!; kill -KILL $C 2>/dev/null; wait $C 2>/dev/null
$RT status >/dev/null || fail "status after a killed client"

kill -CONT "$T"; touch "$WORK/go"; wait_pid "$T" 30
ALL="$(seq -f 's%g' 0 $((S - 1)) | tr '\n' ' ')late"
for s in $ALL; do $RT stop $s >"$WORK/stop.$s" 2>&1 || fail "stop $s: $(cat "$WORK/stop.$s")"; done

for k in $(seq 0 $((S - 1))); do
	e=$(expect $k)
	# the killed program, the stuck one and G: each e events
	for p in $K $T $G; do
		check_eq "s$k: events of $p" "$e" "$(bt "$WORK/o$k" | grep -c "($p)")"
	done
done
check_eq "late: all of G" $N "$(bt "$WORK/olate" | grep -c "($G)")"
check_eq "late: seq of G distinct" $N "$(bt "$WORK/olate" | grep "($G)" | sed -n 's/.*seq = \([0-9]*\),.*/\1/p' | sort -u | wc -l)"
# every seq of the killed program in the widest session
e=$(expect $((S - 1)))
check_eq "s$((S - 1)): seqs of the killed program (lowest, highest, distinct)" "0 $((e - 1)) $e" \
	"$(bt "$WORK/o$((S - 1))" | grep "($K)" | sed -n 's/.*seq = \([0-9]*\),.*/\1/p' | sort -n -u |
		awk 'NR == 1 { lo = $1 } { hi = $1; n++ } END { print lo, hi, n }')"
for s in $ALL; do $RT destroy $s >/dev/null || fail "destroy $s"; done
exit $((FAILS > 0))
