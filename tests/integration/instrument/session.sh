#!/bin/bash
# The instrumentation libraries through a daemon session, the path they
# share with tracepoint probes since the daemon merge (instrument.md §3,
# daemon.md §3.2/§4): func_prog (no ringtrace in it) preloads
# libringtrace-func.so and is started while a session records
# lttng_ust_cyg_profile:func_entry with the filter `addr == fib` and
# func_exit with a filter on call_site (inside worker(), whose bounds nm
# gives), on a channel with add-context vpid, vtid, ip. Expected, from the
# source's recursion: fib(8) in main and fib(6) in the thread are 67 + 25 =
# 92 entries of fib, all with ip = addr = fib and the program's pid; one
# exit whose call site is in worker (its call of fib); nothing else.
# Usage: session.sh RINGTRACE FUNC_PROG FUNC_LIB_NAME LIBRINGTRACE_FUNC
set -u
RT=$1 APP=$2 LIBNAME=$3 FUNCSO=$4
. "$(dirname "$0")/../daemon/lib.sh"

addr() { nm -S "$APP" | awk -v f="$1" '$4 == f { print $'"$2"' }'; }
fib=$((16#$(addr fib 1))) wlo=$((16#$(addr worker 1))) wsz=$((16#$(addr worker 2)))
[ "$fib" -gt 0 ] && [ "$wlo" -gt 0 ] && [ "$wsz" -gt 0 ] || { fail "nm: fib/worker not found"; exit 1; }

$RT create f -o "$WORK/out" >/dev/null 2>&1 || { fail create; exit 1; }
$RT add-context -s f -t vpid -t vtid -t ip >/dev/null || fail add-context
$RT enable-event -s f lttng_ust_cyg_profile:func_entry --filter "addr == $fib" >/dev/null ||
	fail "enable-event func_entry"
$RT enable-event -s f lttng_ust_cyg_profile:func_exit \
	--filter "call_site >= $wlo && call_site < $((wlo + wsz))" >/dev/null || fail "enable-event func_exit"
$RT start f >/dev/null || fail start

(cd "$(dirname "$APP")" && LD_PRELOAD=$FUNCSO exec "$APP" "$LIBNAME") >"$WORK/app.out" 2>&1 &
PIDS="$PIDS $!"
app=$!
wait_pid $app
grep -q "^result 21 8 6$" "$WORK/app.out" || fail "the program's output: $(cat "$WORK/app.out")"
$RT stop f >"$WORK/stop.out" || fail stop

bt "$WORK/out" >"$WORK/bt.txt"
check_eq "entries of fib" 92 "$(grep -c 'lttng_ust_cyg_profile:func_entry' "$WORK/bt.txt")"
hex=$(printf '0x%X' "$fib")
check_eq "entries with addr = ip = fib, the program's vpid" 92 \
	"$(grep 'func_entry' "$WORK/bt.txt" | grep -c "{ vpid = $app, vtid = [0-9]*, ip = $hex }, { addr = $hex, ")"
check_eq "exits called from worker" 1 "$(grep -c 'lttng_ust_cyg_profile:func_exit' "$WORK/bt.txt")"
check_eq "that exit is fib's" 1 "$(grep 'func_exit' "$WORK/bt.txt" | grep -c "{ addr = $hex, ")"
check_eq "other events" 0 "$(grep -vc 'lttng_ust_cyg_profile:func_e' "$WORK/bt.txt")"
[ "$FAILS" -eq 0 ] || exit 1
echo "daemon session: 92 filtered fib entries with ip = addr, 1 exit by call site"
