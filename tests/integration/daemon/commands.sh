#!/bin/bash
# The control commands one by one against the real daemon, their effect
# read back with babeltrace2: --exclude, --loglevel-only, rotate (chunks
# complete and readable), disable-event (later events not recorded),
# status, stop/destroy totals, and clear errors for an unknown session, a
# bad filter, a bad channel option, trace file limits (not implemented), a
# second daemon.
# docs/design/daemon.md §2-§3, §6.
. "$(dirname "$0")/lib.sh"
O=$WORK/o

$RT create s -o "$O" >/dev/null 2>&1 || { fail create; exit 1; }
$RT enable-event -s s 'dmn:*' --exclude dmn:warn >/dev/null || fail "enable --exclude"
$RT enable-event -s s dmn:warn --loglevel-only WARNING >/dev/null || fail "enable --loglevel-only"
$RT start s >/dev/null || fail start
"$APP" run 100 & A=$!; PIDS="$PIDS $A"; wait_pid $A
$RT rotate s >"$WORK/rot" 2>&1 || fail "rotate: $(cat "$WORK/rot")"
grep -q "channel channel0: 111 events recorded, 0 lost" "$WORK/rot" || fail "rotate totals: $(cat "$WORK/rot")"
# chunk 0 (the output itself, without chunk-1) is complete: 100 ticks, 10 warns, 1 start
D0=$(ls -d "$O"/dmn_app-$A)
check_eq "chunk 0 ticks" 100 "$(bt_count "$D0" 'dmn:tick')"
check_eq "chunk 0 warns" 10 "$(bt_count "$D0" 'dmn:warn')"
check_eq "chunk 0 starts" 1 "$(bt_count "$D0" 'dmn:start')"

$RT disable-event -s s 'dmn:*' >/dev/null || fail disable-event
$RT status -s s >"$WORK/status" 2>&1 || $RT status >"$WORK/status" 2>&1 || fail status
grep -q "event rule 'dmn:warn'" "$WORK/status" || fail "status: $(cat "$WORK/status")"
grep -q "event rule 'dmn:\*'" "$WORK/status" && fail "status still lists the disabled rule"
"$APP" run 100 & B=$!; PIDS="$PIDS $B"; wait_pid $B
$RT stop s >"$WORK/stop" 2>&1 || fail stop
grep -q "channel channel0: 121 events recorded, 0 lost" "$WORK/stop" || fail "stop totals: $(cat "$WORK/stop")"
D1=$(ls -d "$O"/chunk-1/dmn_app-$B)
check_eq "chunk 1: only warns" "10 0" "$(bt_count "$D1" 'dmn:warn') $(bt "$D1" | grep -vc 'dmn:warn')"
$RT destroy s >/dev/null || fail destroy

# errors say what is wrong
$RT enable-event -s nosuch x >"$WORK/e1" 2>&1 && fail "unknown session accepted"
grep -q "no session nosuch" "$WORK/e1" || fail "unknown session: $(cat "$WORK/e1")"
$RT create e -o "$WORK/e" >/dev/null || fail "create e"
$RT enable-event -s e x --filter 'a >' >"$WORK/e2" 2>&1 && fail "bad filter accepted"
grep -q "filter, at column" "$WORK/e2" || fail "bad filter: $(cat "$WORK/e2")"
$RT enable-channel -s e --tracefile-size 8K --tracefile-count 2 c >"$WORK/e5" 2>&1 &&
	fail "--tracefile-size accepted (not implemented)"
grep -q "not supported yet" "$WORK/e5" || fail "--tracefile-size: $(cat "$WORK/e5")"
$RT enable-channel -s e --subbuf-size 3000 c >"$WORK/e3" 2>&1 && fail "bad sub-buffer size accepted"
grep -qi "power of two" "$WORK/e3" || fail "bad sub-buffer size: $(cat "$WORK/e3")"
D=$(daemon_pid)
"$(dirname "$RT")/ringtraced" >"$WORK/e4" 2>&1 && fail "a second daemon started"
check_eq "the first daemon still serves" "$D" "$(daemon_pid)"
$RT destroy e >/dev/null || fail "destroy e"
exit $((FAILS > 0))
