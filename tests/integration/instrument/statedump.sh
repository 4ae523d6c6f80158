#!/bin/bash
# The base-address statedump without --func (instrument.md §5): ctx_prog,
# a program with ordinary tracepoints (no instrumentation library),
# recorded with --context vpid,ip by `record` (all events, and -e 'ctxt:*'
# to which record adds the statedump's events), and through a daemon
# session (add-context vpid ip; enable-event ctxt:* and
# lttng_ust_statedump:*). babeltrace2 --debug-info and ringtrace view
# --debug-info print the same bytes, and both name, for each of the 5
# tracepoint events (main thread, a second thread, a fork child, whose
# trace is its own; a daemon session may miss the short-lived child), the
# function that fired it: "ctx_main_site+OFF" or
# "ctx_thread_site+OFF" with OFF = ip - the function's address that the
# program prints itself. Without the ip context, or with
# RINGTRACE_WITHOUT_BADDR_STATEDUMP set, no statedump is written.
# Usage: statedump.sh RINGTRACE CTX_PROG
set -u
RT=$1 PROG=$2
APP=$2
. "$(dirname "$0")/../daemon/lib.sh"
export TZ=UTC LC_ALL=C

# TAG DIR PROGRAM-OUTPUT: the checks on every trace under DIR
check() {
	local tag=$1 dir=$2 out=$3 n=0 d got who seq fn ip name
	: >"$WORK/$tag.got"
	for d in "$dir"/*/; do
		babeltrace2 --debug-info "$d" >"$WORK/$tag.bt2" 2>"$WORK/$tag.bt2err" ||
			{ fail "$tag: babeltrace2 --debug-info: $(head -c 300 "$WORK/$tag.bt2err")"; return; }
		"$RT" view --debug-info "$d" >"$WORK/$tag.rt" 2>&1 || { fail "$tag: view: $(head -c 300 "$WORK/$tag.rt")"; return; }
		cmp -s "$WORK/$tag.bt2" "$WORK/$tag.rt" ||
			fail "$tag: view --debug-info differs from babeltrace2: $(diff "$WORK/$tag.bt2" "$WORK/$tag.rt" | head -3 | cut -c1-300)"
		[ "$(grep -c 'lttng_ust_statedump:start: ' "$WORK/$tag.bt2")" -ge 1 ] || fail "$tag: no statedump in $d"
		# "who seq ip func"
		sed -n 's/.* ctxt:mark: .* ip = 0x\([0-9A-F]*\), debug_info = { bin = "ctx_prog+0x[0-9a-f]*", func = "\([a-z_]*+0x[0-9a-f]*\)", src = "[^"]*" } }, { who = \([0-9]*\), seq = \([0-9]*\) }$/\3 \4 \1 \2/p' \
			"$WORK/$tag.bt2" >>"$WORK/$tag.got"
		n=$((n + 1))
	done
	# record traces the fork child (a trace of its own); a daemon session
	# may not, when the child exits before it registered: then only the
	# program's 4 events are required (its output without the child's line)
	if [ "$tag" = daemon ]; then
		grep -v '^2 ' "$out" >"$WORK/$tag.want"
	else
		[ "$n" -eq 2 ] || fail "$tag: expected 2 traces (the program and its fork child), got $n"
		cp "$out" "$WORK/$tag.want"
	fi
	[ "$(grep -v '^2 ' "$WORK/$tag.got" | wc -l)" -eq 4 ] && [ "$(wc -l <"$WORK/$tag.got")" -le 5 ] ||
		{ fail "$tag: 5 named events expected: $(cat "$WORK/$tag.got")"; return; }
	while read -r who seq _ _ _ _ fn; do
		read -r _ _ ip name <<<"$(awk -v w="$who" -v s="$seq" '$1 == w && $2 == s' "$WORK/$tag.got")"
		want=ctx_main_site
		[ "$who" = 1 ] && want=ctx_thread_site
		[ "$name" = "$want+$(printf '0x%x' $((16#$ip - fn)))" ] ||
			fail "$tag: who=$who seq=$seq: ip 0x$ip named '$name', the program's $want is at $fn"
	done <"$WORK/$tag.want"
	echo "ok: $tag: babeltrace2 --debug-info = view --debug-info; 5 events named by their function"
}

# ---- record ----
"$RT" record -q -o "$WORK/all" --context vpid,ip -- "$PROG" sdmain >"$WORK/all.out" 2>"$WORK/all.err" &
PIDS="$PIDS $!"
wait_pid $! || fail "record: $(cat "$WORK/all.err")"
check all "$WORK/all" "$WORK/all.out"

"$RT" record -q -o "$WORK/sel" -e 'ctxt:*' --context vpid,ip -- "$PROG" sdmain >"$WORK/sel.out" 2>"$WORK/sel.err" &
PIDS="$PIDS $!"
wait_pid $! || fail "record -e: $(cat "$WORK/sel.err")"
check sel "$WORK/sel" "$WORK/sel.out"

# no ip context, or turned off: no statedump
"$RT" record -q -o "$WORK/noip" --context vpid -- "$PROG" sdmain >/dev/null 2>"$WORK/noip.err" &
PIDS="$PIDS $!"
wait_pid $! || fail "record (no ip): $(cat "$WORK/noip.err")"
check_eq "statedump events without the ip context" 0 "$("$RT" view "$WORK/noip" | grep -c 'lttng_ust_statedump:')"
check_eq "ctxt events without the ip context" 5 "$("$RT" view "$WORK/noip" | grep -c 'ctxt:mark')"
RINGTRACE_WITHOUT_BADDR_STATEDUMP=1 "$RT" record -q -o "$WORK/off" --context vpid,ip -- "$PROG" sdmain >/dev/null 2>"$WORK/off.err" &
PIDS="$PIDS $!"
wait_pid $! || fail "record (off): $(cat "$WORK/off.err")"
check_eq "statedump events with RINGTRACE_WITHOUT_BADDR_STATEDUMP" 0 "$("$RT" view "$WORK/off" | grep -c 'lttng_ust_statedump:')"

# ---- a daemon session ----
$RT create sd -o "$WORK/dmn" >"$WORK/create.out" 2>&1 || { fail "create: $(cat "$WORK/create.out")"; exit 1; }
$RT add-context -s sd -t vpid -t ip >/dev/null || fail add-context
$RT enable-event -s sd 'ctxt:*' >/dev/null || fail "enable-event ctxt"
$RT enable-event -s sd 'lttng_ust_statedump:*' >/dev/null || fail "enable-event statedump"
$RT start sd >/dev/null || fail start
"$PROG" sdmain >"$WORK/dmn.out" 2>&1 &
PIDS="$PIDS $!"
wait_pid $! || fail "ctx_prog under the daemon session"
$RT stop sd >"$WORK/stop.out" 2>&1 || fail "stop: $(cat "$WORK/stop.out")"
check daemon "$WORK/dmn" "$WORK/dmn.out"
[ "$FAILS" -eq 0 ] || exit 1
