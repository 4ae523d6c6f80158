#!/bin/bash
# trace-cmd files: one workload (kt_plain: 5000 getppid calls) recorded by
# Debian's `trace-cmd record` and by `ringtrace record --kernel`; the
# trace.dat converted (`ringtrace convert trace.dat -o DIR --format ctf`)
# and viewed (`ringtrace view trace.dat`). Same event names and fields as
# our own recording, same getppid counts, babeltrace2 reads the converted
# trace with no warning and prints what `ringtrace view trace.dat` prints;
# then tiny trace-cmd buffers: the losses trace-cmd reports are the ones
# babeltrace2 reports from the converted trace. A damaged file is an error.
# Usage: tracecmd.sh RINGTRACE KT_PROG KT_PLAIN KT_TCSHIM
set -u
RT=$1 PLAIN=$3 SHIM=$4
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for d in /sys/kernel/tracing/instances/ringtrace-"$p"-*; do
			[ -d "$d" ] && { echo 0 >"$d/tracing_on"; rmdir "$d"; }
		done
	done 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: recording kernel events needs root"; exit 77; }
command -v trace-cmd >/dev/null || { echo "SKIPPED: trace-cmd is not installed (scripts/deps.sh)"; exit 77; }
grep -qw tracefs /proc/filesystems || { echo "SKIPPED: this kernel has no tracefs"; exit 77; }
awk '$3 == "tracefs" { f = 1 } END { exit !f }' /proc/mounts || mount -t tracefs nodev /sys/kernel/tracing ||
	{ echo "SKIPPED: cannot mount tracefs"; exit 77; }
# trace-cmd uses the global instance: not with another trace-cmd running
pgrep -x trace-cmd >/dev/null && { echo "SKIPPED: another trace-cmd is running"; exit 77; }

N=5000
EV=(sched:sched_switch sched:sched_process_exec sched:sched_process_exit
	syscalls:sys_enter_getppid syscalls:sys_exit_getppid)
targs=()
for e in "${EV[@]}"; do targs+=(-e "$e"); done
LD_PRELOAD=$SHIM trace-cmd record -q -F -c -C mono -b 4096 "${targs[@]}" -o "$TMP/w.dat" \
	"$PLAIN" getppid $N >"$TMP/tc.out" 2>"$TMP/tc.err" || fail "trace-cmd record: $(tail -3 "$TMP/tc.err")"
tpid=$(tail -1 "$TMP/tc.out" | cut -d" " -f1)
"$RT" record -q -o "$TMP/rt" -k "$(IFS=,; echo "${EV[*]}")" -- "$PLAIN" getppid $N >"$TMP/rt.out" 2>"$TMP/rt.err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "ringtrace record: $(cat "$TMP/rt.err")"
rpid=$(tail -1 "$TMP/rt.out" | cut -d" " -f1)

"$RT" convert "$TMP/w.dat" -o "$TMP/conv" --format ctf 2>"$TMP/conv.err" || fail "convert: $(cat "$TMP/conv.err")"
[ -n "$(find "$TMP/conv" -name metadata)" ] || fail "convert wrote no trace"
grep -rq 'domain = "kernel";' "$TMP/conv" --include=metadata || fail "converted metadata: no domain = kernel"
grep -rq 'ringtrace_kernel_clock = "mono";' "$TMP/conv" --include=metadata || fail "converted metadata: clock not kept"
babeltrace2 "$TMP/conv" >"$TMP/conv.txt" 2>"$TMP/conv.bterr" || fail "babeltrace2 (converted): $(head -c 300 "$TMP/conv.bterr")"
[ -s "$TMP/conv.bterr" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/conv.bterr")"
"$RT" view "$TMP/w.dat" >"$TMP/view.txt" 2>"$TMP/view.err" || fail "view trace.dat: $(cat "$TMP/view.err")"
cmp -s "$TMP/view.txt" "$TMP/conv.txt" || fail "ringtrace view trace.dat differs from babeltrace2 on its conversion"
ls -d "${TMPDIR:-/tmp}"/ringtrace-tracedat-* 2>/dev/null | grep -q . && fail "view left its temporary conversion"
babeltrace2 "$TMP/rt/kernel" >"$TMP/rt.txt" 2>/dev/null || fail "babeltrace2 (ringtrace)"

# the same classes with the same fields (payload field names, in order)
classes() {
	sed -n 's/^\[[^]]*\] ([^)]*) [^ ]* \([a-z_]*\): { cpu_id = [0-9]* }, { tid = -\?[0-9]* }, { \(.*\) }$/\1 \2/p;
		s/^\[[^]]*\] ([^)]*) [^ ]* \([a-z_]*\): { cpu_id = [0-9]* }, { tid = -\?[0-9]* }, { }$/\1/p' "$1" |
		sed 's/ = \("[^"]*"\|\[[^]]*\]\|[^,]*\)\(, \|$\)/ /g' | sort -u
}
classes "$TMP/conv.txt" >"$TMP/c1"
classes "$TMP/rt.txt" >"$TMP/c2"
[ "$(wc -l <"$TMP/c1")" -ge 5 ] || fail "converted trace: classes $(cat "$TMP/c1")"
cmp -s "$TMP/c1" "$TMP/c2" || fail "event classes differ: $(diff "$TMP/c1" "$TMP/c2" | head -6)"
n1=$(grep -c " syscall_entry_getppid: { cpu_id = [0-9]* }, { tid = $tpid }" "$TMP/conv.txt")
n2=$(grep -c " syscall_entry_getppid: { cpu_id = [0-9]* }, { tid = $rpid }" "$TMP/rt.txt")
x1=$(grep -c " syscall_exit_getppid: { cpu_id = [0-9]* }, { tid = $tpid }, { ret = " "$TMP/conv.txt")
[ "$n1" -eq $N ] && [ "$n2" -eq $N ] && [ "$x1" -eq $N ] || fail "getppid: trace-cmd $n1 (exits $x1), ringtrace $n2, expected $N"
grep -q "sched_process_exec: .*{ tid = $tpid }, { filename = \"[^\"]*kt_plain\", tid = $tpid, old_tid = $tpid }" "$TMP/conv.txt" ||
	fail "converted: no sched_process_exec of $tpid"
s1=$(grep -c ' sched_switch: ' "$TMP/conv.txt")
s2=$(grep -c ' sched_switch: ' "$TMP/rt.txt")
[ "$s1" -gt 0 ] && [ "$s2" -gt 0 ] || fail "sched_switch: trace-cmd $s1, ringtrace $s2"
echo "same $(wc -l <"$TMP/c1") event classes and fields; getppid $n1 = $n2; sched_switch $s1 (trace-cmd) vs $s2 (ringtrace)"

# tiny buffers in trace-cmd's default overwrite mode: its losses are ours,
# in total (its saved statistics) and in place (its "[EVENTS DROPPED]"
# pages, each a loss between two packets)
LD_PRELOAD=$SHIM trace-cmd record -q -F -C mono -b 8 -e syscalls:sys_enter_getppid -o "$TMP/l.dat" \
	"$PLAIN" getppid 200000 >/dev/null 2>"$TMP/tcl.err" || fail "trace-cmd record (small): $(tail -3 "$TMP/tcl.err")"
trace-cmd report "$TMP/l.dat" >"$TMP/l.report" 2>/dev/null
tc_got=$(grep -c ' sys_enter_getppid:' "$TMP/l.report")
tc_marks=$(grep -c 'EVENTS DROPPED\]' "$TMP/l.report")
tc_lost=$(trace-cmd report --stat "$TMP/l.dat" 2>/dev/null |
	awk -F': ' '/^(overrun|commit overrun|dropped events): / { s += $2 } END { print s + 0 }')
"$RT" view "$TMP/l.dat" >"$TMP/l.txt" 2>"$TMP/l.err" || fail "view (small): $(cat "$TMP/l.err")"
got=$(grep -c ' syscall_entry_getppid: ' "$TMP/l.txt")
lost=$(grep -o 'Tracer discarded [0-9]* events' "$TMP/l.err" | awk '{ s += $3 } END { print s + 0 }')
warns=$(grep -c 'Tracer discarded' "$TMP/l.err")
[ "$got" -eq "$tc_got" ] || fail "small buffers: $got events converted, trace-cmd report shows $tc_got"
# The per-CPU statistics trace-cmd saves also count events overwritten
# after the last page it read, which no page marks: on a loaded machine
# (the recorder late at the end) they exceed the pages' counts. Known gap:
# the conversion does not yet add that remainder at the end of each CPU's
# stream (docs/design/kernel.md, limits).
[ "$lost" -le "$tc_lost" ] && [ "$lost" -gt 0 ] || fail "small buffers: $lost lost after conversion, trace-cmd's statistics say $tc_lost"
[ "$lost" -eq "$tc_lost" ] || echo "note: $lost lost in the pages, trace-cmd's statistics say $tc_lost (overwritten after its last read)"
# each reported loss is at a page trace-cmd marks; a mark whose loss lands
# after a CPU's last event, or shares a packet with another, is not a
# notice of its own (same known gap as above)
[ "$warns" -le "$tc_marks" ] && [ "$warns" -gt 0 ] || fail "small buffers: $warns losses reported, trace-cmd marks $tc_marks pages"
[ "$warns" -eq "$tc_marks" ] || echo "note: $warns losses reported, trace-cmd marks $tc_marks pages"
echo "small buffers: $got events, $lost lost in $warns places, as trace-cmd says"

# not a trace: a clear error, nothing left behind
printf '\027\010Dtracing6\0\0\0garbage' >"$TMP/bad.dat"
head -c 4096 /dev/urandom >>"$TMP/bad.dat"
"$RT" view "$TMP/bad.dat" >/dev/null 2>"$TMP/bad.err" && fail "view of a damaged trace.dat succeeded"
grep -q "bad.dat" "$TMP/bad.err" || fail "damaged trace.dat: $(cat "$TMP/bad.err")"
ls -d "${TMPDIR:-/tmp}"/ringtrace-tracedat-* 2>/dev/null | grep -q . && fail "a failed conversion left files"
echo "damaged trace.dat: '$(head -1 "$TMP/bad.err")'"
