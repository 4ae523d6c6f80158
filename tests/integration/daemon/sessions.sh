#!/bin/bash
# Three sessions with different channels, modes, filters and log levels
# record the same four programs: two started before the daemon (woken by
# it: daemon.md §1.2), two after the sessions started (they arm
# the sessions themselves and record from the first line of main()). Each
# trace must hold exactly its own events, read with babeltrace2.
# docs/design/daemon.md §2-§4.
. "$(dirname "$0")/lib.sh"
FILE=$WORK/go
N=100

bg "$APP" wait "$FILE" $N; A=$LAST
bg "$APP" wait "$FILE" $N; B=$LAST
# With no daemon, A's control thread sleeps until one starts (dwake.h): no
# periodic wake-up (voluntary context switches do not grow over 2.5 s; a
# once-a-second look would add two or three).
ctl_switches() { # pid -> voluntary switches of its ringtrace-ctl thread
	local t
	for t in /proc/$1/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = ringtrace-ctl ] &&
			awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status"
	done
}
for _ in $(seq 100); do [ -n "$(ctl_switches $A)" ] && break; sleep 0.02; done
sleep 0.3
S0=$(ctl_switches $A); sleep 2.5; S1=$(ctl_switches $A)
[ -n "$S0" ] && [ "$S0" = "$S1" ] || fail "control thread woke with no daemon: $S0 -> $S1 switches"
# the first command starts the daemon; A and B find it by themselves
$RT create s1 -o "$WORK/out1" >"$WORK/create.out" 2>&1 || { cat "$WORK/create.out"; fail create; exit 1; }
grep -q "started" "$WORK/create.out" || fail "create did not say it started the daemon"
# (its 3 events and the runtime's 9: lttng_ust_statedump's 5, lttng_ust_lib's 4)
wait_for "$A \(dmn_app\): 12 events" $RT list
wait_for "$B \(dmn_app\): 12 events" $RT list

$RT enable-channel -s s1 --subbuf-size 64K --num-subbuf 4 big >/dev/null || fail enable-channel
$RT enable-event -s s1 -c big dmn:tick --filter 'val > 50' >/dev/null || fail "enable-event s1"
$RT create s2 -o "$WORK/out2" >/dev/null || fail "create s2"
$RT enable-event -s s2 'dmn:*' --loglevel WARNING >/dev/null || fail "enable-event s2"
$RT create s3 -o "$WORK/out3" >/dev/null || fail "create s3"
$RT enable-channel -s s3 --overwrite ring >/dev/null || fail "enable-channel s3"
$RT add-context -s s3 -c ring -t vpid -t procname >/dev/null || fail add-context
$RT enable-event -s s3 -c ring dmn:tick --filter 'name == "n1" && dval >= 5' >/dev/null || fail "enable-event s3"
$RT enable-event -s s3 -c ring dmn:start >/dev/null || fail "enable-event s3 start"
for s in s1 s2 s3; do
	$RT start $s >"$WORK/start.$s" || { cat "$WORK/start.$s"; fail "start $s"; }
	grep -q "2 processes answered" "$WORK/start.$s" || fail "start $s: $(cat "$WORK/start.$s")"
done

# started while the sessions record: traced from their first event
bg "$APP" run $N; C=$LAST
bg "$APP" run $N; D=$LAST
wait_pid $C; wait_pid $D
touch "$FILE"
wait_pid $A; wait_pid $B

for s in s1 s2 s3; do $RT stop $s >"$WORK/stop.$s" || fail "stop $s"; done
cat "$WORK/stop.s1"
grep -q "channel big: 196 events recorded, 0 lost" "$WORK/stop.s1" || fail "stop s1 totals"

# s1: val = 3i - 100 > 50 -> i = 51..99: 49 per program
check_eq "s1 ticks" 196 "$(bt_count "$WORK/out1" 'dmn:tick')"
check_eq "s1 others" 0 "$(bt "$WORK/out1" | grep -vc 'dmn:tick')"
check_eq "s1 smallest val" 53 "$(bt "$WORK/out1" | sed -n 's/.* val = \(-\?[0-9]*\),.*/\1/p' | sort -n | head -1)"
# s2: level WARNING or more severe: warn only, i = 0, 10, ..., 90
check_eq "s2 warns" 40 "$(bt_count "$WORK/out2" 'dmn:warn')"
check_eq "s2 others" 0 "$(bt "$WORK/out2" | grep -vc 'dmn:warn')"
# s3: name n1 and dval >= 5: i = 21, 25, ..., 97: 20 per program, plus
# dmn:start of C and D (A and B started before any session)
check_eq "s3 ticks" 80 "$(bt_count "$WORK/out3" 'dmn:tick')"
check_eq "s3 starts" 2 "$(bt_count "$WORK/out3" 'dmn:start')"
check_eq "s3 ticks not n1" 0 "$(bt "$WORK/out3" | grep 'dmn:tick' | grep -vc 'name = "n1"')"
check_eq "s3 vpid context" 82 "$(bt "$WORK/out3" | grep -c 'vpid = ')"
for p in $C $D; do
	check_eq "s3 start of $p" 1 "$(bt "$WORK/out3" | grep 'dmn:start' | grep -c "pid = $p }")"
done
# every program in every session
for p in $A $B $C $D; do
	check_eq "s1 has $p" 49 "$(bt "$WORK/out1" | grep -c "($p)")"
done
for s in s1 s2 s3; do $RT destroy $s >/dev/null || fail "destroy $s"; done
exit $((FAILS > 0))
