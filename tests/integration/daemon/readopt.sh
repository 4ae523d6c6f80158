#!/bin/bash
# A session daemon killed with SIGKILL and started again while its programs
# run (issue 13, docs/design/daemon.md §8): the programs keep their buffers
# and go on recording into them; the new daemon reloads the session from
# state/ (after completing the dead one's traces with `ringtrace recover`)
# and the programs hand the same buffers over when they reconnect. Every
# event of the programs — before the kill, during the outage, after the
# restart — is read back once (by the sequence numbers the programs write),
# with babeltrace2 and `ringtrace view`. The outage is meant to stay within
# the buffers' capacity; on a machine too busy to drain (make check runs
# tests side by side) the writers discard, and then every missing sequence
# number must be counted as lost.
. "$(dirname "$0")/lib.sh"

seqs_of() { # seqs of pid $2 in trace $1 (sorted numerically)
	bt "$1" | grep "($2) dmn:tick" | sed -n 's/.*seq = \([0-9]*\),.*/\1/p' | sort -n
}

$RT create s1 -o "$WORK/o1" >/dev/null || { fail "create"; exit 1; }
# 8 MiB per CPU: ~300000 events, 3 s of a slow program
$RT enable-channel -s s1 --subbuf-size 256K --num-subbuf 32 c >/dev/null || fail "channel"
$RT enable-event -s s1 -c c dmn:tick >/dev/null || fail "enable"
$RT start s1 >/dev/null || fail "start"
bg "$APP" slow "$WORK/side1"; P1=$LAST
bg "$APP" slow "$WORK/side2"; P2=$LAST
wait_counts 5000 "$WORK/side1" "$WORK/side2"
# until both traces have a whole packet on disk (its index entry is written
# once the packet is; the switch timer closes a sub-buffer within a second)
for _ in $(seq 600); do
	[ -n "$(find "$WORK/o1/dmn_app-$P1" "$WORK/o1/dmn_app-$P2" -path '*/index/c_*.idx' \
		-size +16c 2>/dev/null | sed 's|/index/.*||' | sort -u | sed -n 2p)" ] && break
	sleep 0.05
done
D=$(daemon_pid)
kill -KILL "$D"
for _ in $(seq 100); do kill -0 "$D" 2>/dev/null || break; sleep 0.05; done
K1=$(count "$WORK/side1")
# the outage: at least 20000 more events each, with no daemon
wait_counts $((K1 + 20000)) "$WORK/side1"
wait_counts $(($(count "$WORK/side2") + 20000)) "$WORK/side2"
R1=$(count "$WORK/side1")
$RT list >"$WORK/list.out" 2>&1 || fail "restart: $(cat "$WORK/list.out")"
grep -q "ringtraced started" "$WORK/list.out" || fail "the daemon was not started again"
grep -q "session s1 (id [0-9]*) reloaded from the state of daemon pid $D" \
	"$RINGTRACE_RUNDIR/daemon.log" || fail "s1 not reloaded: $(tail -5 "$RINGTRACE_RUNDIR/daemon.log")"
# the programs find the new daemon (they look once a second)
wait_for "$P1 \(dmn_app\)" $RT list
wait_for "$P2 \(dmn_app\)" $RT list
grep -A12 "ringtrace.*recover\|dmn_app-$P1:" "$RINGTRACE_RUNDIR/daemon.log" | grep -v "^--" | head -20
A1=$(count "$WORK/side1")
wait_counts $((A1 + 20000)) "$WORK/side1" "$WORK/side2"
$RT stop s1 >"$WORK/stop.out" 2>&1 || fail "stop: $(cat "$WORK/stop.out")"
cat "$WORK/stop.out"
# the count P1 wrote last, read while it is stopped outside a rewrite
for _ in $(seq 50); do
	kill -STOP "$P1"; E1=$(count "$WORK/side1"); [ "$E1" -gt 0 ] && break
	kill -CONT "$P1"; sleep 0.01
done
kill -KILL "$P1" "$P2"; wait_pid "$P1" 10; wait_pid "$P2" 10

ls "$WORK/o1"
LOST=$(sed -n 's/.*events recorded, \([0-9]*\) lost.*/\1/p' "$WORK/stop.out")
echo "lost (counted by the writers, the outage included): ${LOST:-?}"
check_eq "trace directories (before the kill, after the restart)" 4 "$(ls "$WORK/o1" | wc -l)"
for p in $P1 $P2; do
	old=$(seqs_of "$WORK/o1/dmn_app-$p" "$p")
	new=$(seqs_of "$(ls -d "$WORK/o1/dmn_app-$p"-*)" "$p")
	all=$(printf '%s\n%s\n' "$old" "$new" | grep . | sort -n)
	n=$(echo "$all" | wc -l)
	last=$(echo "$all" | tail -1)
	check_eq "pid $p: every seq once" "$n" "$(echo "$all" | sort -u | wc -l)"
	if [ "${LOST:-1}" = 0 ]; then
		check_eq "pid $p: no seq missing from 0 to the last" "0 $((n - 1))" "$(echo "$all" | head -1) $last"
	else
		# the writers discarded (buffers full): every gap is counted
		[ $((last + 1 - n)) -le "$LOST" ] ||
			fail "pid $p: $((last + 1 - n)) seqs missing, only $LOST counted lost"
	fi
	# (each CPU's buffer goes on where the dead daemon stopped reading
	# it: the two traces share no event, together they miss none)
	[ -n "$old" ] && [ -n "$new" ] || fail "pid $p: an empty trace (before $(echo "$old" | grep -c .), after $(echo "$new" | grep -c .))"
	echo "pid $p: $(echo "$old" | grep -c .) events before the kill (in the dead daemon's" \
		"trace), $(echo "$new" | grep -c .) after it (outage and restart), $n in all"
done
# P1's events of the outage ([K1, R1): committed while no daemon ran) and
# after the restart are there
all1=$(printf '%s\n%s\n' "$(seqs_of "$WORK/o1/dmn_app-$P1" "$P1")" \
	"$(seqs_of "$(ls -d "$WORK/o1/dmn_app-$P1"-*)" "$P1")" | grep . | sort -n)
got=$(echo "$all1" | awk -v a="$K1" -v b="$R1" '$1 >= a && $1 < b' | wc -l)
if [ "${LOST:-1}" = 0 ]; then
	check_eq "P1: events of the outage [$K1, $R1) read back" $((R1 - K1)) "$got"
else
	echo "P1: $got of the $((R1 - K1)) events of the outage [$K1, $R1) read back (buffers full)"
	[ $((R1 - K1 - got)) -le "$LOST" ] || fail "P1: outage events missing beyond the lost count"
fi
[ "$(echo "$all1" | tail -1)" -ge $((A1 + 20000 - 1)) ] || fail "P1: events after the restart missing"
[ "$(echo "$all1" | tail -1)" -lt $((E1 + 1000)) ] || fail "P1: seqs beyond what it committed"
echo "P1: killed at $K1, restarted at $R1, stopped at $E1 committed events"
if bt "$WORK/o1" >"$WORK/bt.txt"; then
	[ "${LOST:-1}" = 0 ] && check_eq "babeltrace2: no discarded events" 0 "$(grep -c 'discarded' "$WORK/bt.err")"
	check_eq "ringtrace view = babeltrace2" "$(md5sum <"$WORK/bt.txt")" \
		"$($RT view "$WORK/o1" 2>/dev/null | md5sum)"
fi
$RT destroy s1 >/dev/null || fail "destroy"
exit $((FAILS > 0))
