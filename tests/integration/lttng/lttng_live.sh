#!/bin/bash
# Traces made on the spot by Debian's lttng-tools and LTTng-UST (so not in
# the stored corpus): a multi-threaded program with integer (dec, hex,
# network order), float, string, array, sequence, text sequence and enum
# fields, contexts (vpid, vtid, procname, ip, pthread_id), small buffers so
# that events are discarded, per-UID and per-PID buffers. `ringtrace view`
# must print exactly what babeltrace2 prints (stdout and stderr), with and
# without --clock-seconds, and `stats` must count the events it prints.
# Then several traces at once (both LTTng traces and one recorded by
# ringtrace at the same time, as a kernel and a user-space trace would be
# read together): merged in babeltrace2's order, byte for byte.
# Usage: lttng_live.sh RINGTRACE LTTNG_APP REC_APP
set -u
RT=$(realpath "$1") APP=$(realpath "$2") REC=$(realpath "$3")
TMP=$(mktemp -d)
export TZ=UTC LC_ALL=C
started=""
sessions=()
cleanup() {
	for s in "${sessions[@]}"; do lttng destroy "$s" >/dev/null 2>&1; done
	if [ -n "$started" ]; then # the session daemon this test started, and its consumers
		kill "$started" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$started" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$started" 2>/dev/null
		wait "$started" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
bad() { fail=1; echo "FAIL $*"; }

command -v lttng >/dev/null && command -v lttng-sessiond >/dev/null ||
	{ echo "lttng-tools missing (scripts/deps.sh installs it)"; exit 1; }
if ! lttng list >/dev/null 2>&1; then
	# in the foreground, as our child: its PID is known, so it is stopped
	# at the end whatever happens (a --daemonize'd one was left running)
	lttng-sessiond >/dev/null 2>&1 &
	started=$!
	for _ in $(seq 100); do lttng list >/dev/null 2>&1 && break; sleep 0.1; done
	lttng list >/dev/null 2>&1 || { echo "cannot start lttng-sessiond"; exit 1; }
fi

record() { # NAME BUFFERS-OPTION THREADS EVENTS
	local s=rtrlive$$_$1
	sessions+=("$s")
	lttng create "$s" --output="$TMP/$1" >/dev/null || { bad "lttng create"; return; }
	lttng enable-channel -u -s "$s" "$2" --subbuf-size 16k --num-subbuf 8 c >/dev/null ||
		{ bad "enable-channel"; return; }
	lttng enable-event -u -s "$s" -c c 'rtrlt:*' >/dev/null || { bad "enable-event"; return; }
	lttng add-context -u -s "$s" -c c -t vpid -t vtid -t procname -t ip -t pthread_id \
		>/dev/null || { bad "add-context"; return; }
	lttng start "$s" >/dev/null && "$APP" "$3" "$4" && lttng stop "$s" >/dev/null ||
		bad "recording $1"
	lttng destroy "$s" >/dev/null
}

compare() { # TRACE [OPTIONS]  (TRACE may be several paths separated by ':')
	local tr=$1 trs
	shift
	IFS=: read -r -a trs <<<"$tr"
	babeltrace2 "$@" "${trs[@]}" >"$TMP/bt2.out" 2>"$TMP/bt2.err" || { bad "babeltrace2 $* $tr"; return; }
	"$RT" view "$@" "${trs[@]}" >"$TMP/rt.out" 2>"$TMP/rt.err" || { bad "view $* $tr: $(head -c 200 "$TMP/rt.err")"; return; }
	cmp -s "$TMP/bt2.out" "$TMP/rt.out" || bad "view $* $tr: stdout differs: $(diff "$TMP/bt2.out" "$TMP/rt.out" | head -3 | cut -c1-200)"
	cmp -s "$TMP/bt2.err" "$TMP/rt.err" || bad "view $* $tr: stderr differs: $(diff "$TMP/bt2.err" "$TMP/rt.err" | head -3 | cut -c1-200)"
}

record uid --buffers-uid 4 20000
# the pid session runs while ringtrace records another program
"$RT" record -q -o "$TMP/rtr" -- "$REC" threads 2 3000 &
rtr_pid=$!
record pid --buffers-pid 3 5000
wait $rtr_pid || bad "ringtrace record exited $?"
for t in uid pid; do
	tr=$TMP/$t
	[ -f "$(find "$tr" -name metadata | head -n1)" ] || { bad "no trace in $tr"; continue; }
	compare "$tr"
	compare "$tr" --clock-seconds --no-delta
	compare "$tr" --names=all --fields=all
	n=$(babeltrace2 "$tr" 2>/dev/null | wc -l)
	got=$("$RT" stats "$tr" 2>/dev/null | awk '$1 == "Events" && $2 ~ /^[0-9]+$/ { print $2 }')
	[ "$got" = "$n" ] || bad "stats $tr: $got events, babeltrace2 printed $n"
	d=$(babeltrace2 "$tr" 2>&1 >/dev/null | grep -c 'discarded')
	echo "$t: $n events read identically ($d discarded-events warnings)"
	[ "$n" -gt 500 ] || bad "$t: only $n events"
done
# several traces at once, from both tracers
compare "$TMP/uid:$TMP/pid:$TMP/rtr"
compare "$TMP/pid:$TMP/rtr" --clock-seconds
n=$(babeltrace2 "$TMP/uid" "$TMP/pid" "$TMP/rtr" 2>/dev/null | wc -l)
echo "merged: $n events of 3 traces (2 LTTng-UST, 1 ringtrace) read identically"
[ $fail -eq 0 ]
