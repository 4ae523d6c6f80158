#!/bin/bash
# A flight recorder that outlives its daemon (issue 13, daemon.md §8): a
# snapshot session's overwrite buffers are in the traced programs' memory;
# the daemon is killed with SIGKILL while they record, started again, and
# re-adopts them; `snapshot record` then writes what the buffers hold,
# which must be the newest events the program committed, without a gap,
# from before the kill through the outage to after the restart. Read back with babeltrace2 and
# `ringtrace view`, by the sequence numbers the programs write.
. "$(dirname "$0")/lib.sh"

seqs_of() { # seqs of pid $2 in the traces under $1 (sorted numerically)
	bt "$1" | grep "($2) dmn:tick" | sed -n 's/.*seq = \([0-9]*\),.*/\1/p' | sort -n
}

$RT create fr --snapshot -o "$WORK/snap" >/dev/null || { fail "create"; exit 1; }
# 32 MiB per CPU (~800 000 events): the run writes a few 100 000
$RT enable-channel -s fr --overwrite --subbuf-size 256K --num-subbuf 128 c >/dev/null || fail "channel"
$RT enable-event -s fr -c c dmn:tick >/dev/null || fail "enable"
$RT start fr >/dev/null || fail "start"
bg "$APP" slow "$WORK/side1"; P1=$LAST
wait_counts 5000 "$WORK/side1"
D=$(daemon_pid)
kill -KILL "$D"
for _ in $(seq 100); do kill -0 "$D" 2>/dev/null || break; sleep 0.05; done
K1=$(count "$WORK/side1")
wait_counts $((K1 + 10000)) "$WORK/side1"
R1=$(count "$WORK/side1")
$RT list >"$WORK/list.out" 2>&1 || fail "restart: $(cat "$WORK/list.out")"
grep -q "ringtraced started" "$WORK/list.out" || fail "the daemon was not started again"
grep -q "session fr (id [0-9]*) reloaded from the state of daemon pid $D" \
	"$RINGTRACE_RUNDIR/daemon.log" || fail "fr not reloaded: $(tail -5 "$RINGTRACE_RUNDIR/daemon.log")"
wait_for "$P1 \(dmn_app\)" $RT list
A1=$(count "$WORK/side1")
wait_counts $((A1 + 5000)) "$WORK/side1"
$RT snapshot record -s fr >"$WORK/snap.out" 2>&1 || fail "snapshot: $(cat "$WORK/snap.out")"
cat "$WORK/snap.out"
# the count P1 has committed by now: the snapshot cannot hold more
for _ in $(seq 50); do
	kill -STOP "$P1"; E1=$(count "$WORK/side1"); [ "$E1" -gt 0 ] && break
	kill -CONT "$P1"; sleep 0.01
done
kill -KILL "$P1"; wait_pid "$P1" 10

all=$(seqs_of "$WORK/snap" "$P1")
n=$(echo "$all" | grep -c .)
first=$(echo "$all" | head -1)
last=$(echo "$all" | tail -1)
echo "snapshot: $n events of $P1, seq $first..$last (killed at $K1, restarted at $R1, re-adopted by $A1, $E1 committed)"
check_eq "every seq once" "$n" "$(echo "$all" | sort -u | grep -c .)"
if [ "${first:-1}" = 0 ]; then
	# nothing overwritten: every event, before the kill, of the outage
	# and after the restart
	check_eq "no seq missing from the first to the last" "$((last - first + 1))" "$n"
else
	# a machine so slow that the buffers wrapped: each CPU's buffer
	# dropped its oldest sub-buffers at its own point, so the program's
	# events (it migrates) are not one range; the newest are there
	echo "the buffers wrapped (first seq $first): contiguity not checked"
	got=$(echo "$all" | awk -v a=$((A1 + 5000 - 1000)) '$1 >= a' | wc -l)
	[ "$got" -ge 900 ] || fail "the newest events after the restart missing ($got of 1000)"
fi
[ "${last:-0}" -ge $((A1 + 5000 - 1)) ] || fail "events after the restart missing (last $last)"
[ "${last:-0}" -lt $((E1 + 1000)) ] || fail "seqs beyond what the program committed"
if bt "$WORK/snap" >"$WORK/bt.txt"; then
	check_eq "ringtrace view = babeltrace2" "$(md5sum <"$WORK/bt.txt")" \
		"$($RT view "$WORK/snap" 2>/dev/null | md5sum)"
fi
$RT destroy fr >/dev/null || fail "destroy"
exit $((FAILS > 0))
