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

# trace file limits (LTTng's --tracefile-size/--tracefile-count): 4 KiB
# packets, files of at most 8 KiB, the newest 3 kept per stream; the
# program's 2000 ticks (seq 0..1999) fill many more. What is left is read
# by babeltrace2 with no error, view prints the same, it ends with the
# newest tick, and holds a contiguous run of the newest ones.
$RT create lim -o "$WORK/lim" >/dev/null || fail "create lim"
$RT enable-channel -s lim --subbuf-size 4K --num-subbuf 64 --tracefile-size 8K --tracefile-count 3 c \
	>/dev/null || fail "enable-channel --tracefile-size"
$RT enable-event -s lim -c c dmn:tick >/dev/null || fail "enable-event lim"
$RT start lim >/dev/null || fail "start lim"
"$APP" run 2000 & L=$!; PIDS="$PIDS $L"; wait_pid $L
$RT stop lim >"$WORK/lim.stop" 2>&1 || fail "stop lim"
grep -q "channel c: 2000 events recorded, 0 lost" "$WORK/lim.stop" || fail "lim totals: $(cat "$WORK/lim.stop")"
$RT destroy lim >/dev/null || fail "destroy lim"
LD=$WORK/lim/dmn_app-$L
for f in "$LD"/c_*_*; do
	[ "$(stat -c %s "$f")" -le 8192 ] || fail "$(basename "$f"): $(stat -c %s "$f") bytes > 8 KiB"
	[ -f "$LD/index/$(basename "$f").idx" ] || fail "no index for $(basename "$f")"
done
for cpu in $(ls "$LD" | sed -n 's/^c_\([0-9]*\)_[0-9]*$/\1/p' | sort -u); do
	n=$(ls "$LD" | grep -c "^c_${cpu}_[0-9]*$")
	[ "$n" -le 3 ] || fail "stream c_$cpu: $n files kept, limit 3"
done
[ "$(ls "$LD/index" | grep -c '\.idx$')" -eq "$(ls "$LD" | grep -c '^c_[0-9]*_[0-9]*$')" ] ||
	fail "index files do not match the stream files: $(ls "$LD" "$LD/index")"
bt "$LD" | sed -n 's/.*dmn:tick: .*seq = \([0-9]*\),.*/\1/p' | sort -n >"$WORK/lim.seqs"
kept=$(wc -l <"$WORK/lim.seqs")
[ "$kept" -gt 0 ] && [ "$kept" -lt 2000 ] || fail "lim: $kept ticks kept of 2000"
check_eq "lim: newest tick kept" 1999 "$(tail -1 "$WORK/lim.seqs")"
check_eq "lim: the kept ticks are contiguous" "$kept" "$(( $(tail -1 "$WORK/lim.seqs") - $(head -1 "$WORK/lim.seqs") + 1 ))"
"$RT" view "$LD" | cmp -s - <(bt "$LD") || fail "lim: view differs from babeltrace2"

# errors say what is wrong
$RT enable-event -s nosuch x >"$WORK/e1" 2>&1 && fail "unknown session accepted"
grep -q "no session nosuch" "$WORK/e1" || fail "unknown session: $(cat "$WORK/e1")"
$RT create e -o "$WORK/e" >/dev/null || fail "create e"
$RT enable-event -s e x --filter 'a >' >"$WORK/e2" 2>&1 && fail "bad filter accepted"
grep -q "filter, at column" "$WORK/e2" || fail "bad filter: $(cat "$WORK/e2")"
$RT enable-channel -s e --tracefile-count 2 c >"$WORK/e5" 2>&1 &&
	fail "--tracefile-count without --tracefile-size accepted"
grep -q "needs --tracefile-size" "$WORK/e5" || fail "--tracefile-count: $(cat "$WORK/e5")"
$RT enable-channel -s e --subbuf-size 3000 c >"$WORK/e3" 2>&1 && fail "bad sub-buffer size accepted"
grep -qi "power of two" "$WORK/e3" || fail "bad sub-buffer size: $(cat "$WORK/e3")"
D=$(daemon_pid)
"$(dirname "$RT")/ringtraced" >"$WORK/e4" 2>&1 && fail "a second daemon started"
check_eq "the first daemon still serves" "$D" "$(daemon_pid)"
$RT destroy e >/dev/null || fail "destroy e"
exit $((FAILS > 0))
