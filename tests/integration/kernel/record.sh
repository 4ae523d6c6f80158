#!/bin/bash
# `ringtrace record --kernel` of a program whose kernel activity is known
# (kt_prog: writes between two tracepoints, a fork, an open in the child, a
# thread woken through a condition variable), then the whole system with no
# program, then the same as an unprivileged user. Checks names, fields,
# tids, the order of kernel and user events on one time line, that only
# the program's processes are recorded, that babeltrace2 reads it all with
# no warning and prints what `ringtrace view` prints, and that our tracefs
# instance is gone afterwards.
# Usage: record.sh RINGTRACE KT_PROG
set -u
RT=$1 PROG=$2
TMP=$(mktemp -d)
chmod 755 "$TMP"
PIDS=()
TFS=/sys/kernel/tracing
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	# instances of the recorders this test started (killed ones included)
	for p in "${PIDS[@]}"; do
		for d in $TFS/instances/ringtrace-"$p"-*; do
			[ -d "$d" ] && { echo 0 >"$d/tracing_on"; rmdir "$d"; }
		done
	done 2>/dev/null
	rmdir $TFS/instances/ringtrace-2147483646-1 2>/dev/null
	grep -q "rtr_2147483646_1/" $TFS/uprobe_events 2>/dev/null &&
		echo "-:rtr_2147483646_1/stale" >>$TFS/uprobe_events
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: recording kernel events needs root"; exit 77; }
grep -qw tracefs /proc/filesystems || { echo "SKIPPED: this kernel has no tracefs"; exit 77; }
# where tracefs is (ringtrace mounts it on /sys/kernel/tracing if it is nowhere)
TFS=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts)
if [ -z "$TFS" ]; then
	mount -t tracefs nodev /sys/kernel/tracing || { echo "SKIPPED: cannot mount tracefs"; exit 77; }
	TFS=/sys/kernel/tracing
fi

N=50
EV='sched:sched_switch,sched:sched_waking,sched:sched_process_*,syscalls:sys_enter_write,syscalls:sys_exit_write,syscalls:sys_enter_openat,syscalls:sys_exit_openat'
"$RT" record -o "$TMP/t" -k "$EV" -- "$PROG" "$TMP/side" $N 2>"$TMP/rec.err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "record exited $?: $(cat "$TMP/rec.err")"
grep -q "kernel trace written to $TMP/t/kernel" "$TMP/rec.err" || fail "no kernel summary: $(cat "$TMP/rec.err")"
ls -d $TFS/instances/ringtrace-$rp-* 2>/dev/null && fail "instance of $rp left behind"
pid=$(sed -n 's/^pid //p' "$TMP/side") child=$(sed -n 's/^child //p' "$TMP/side")
thread=$(sed -n 's/^thread //p' "$TMP/side") devnull=$(sed -n 's/^devnull //p' "$TMP/side")
[ -n "$pid" ] && [ -n "$child" ] && [ -n "$thread" ] || fail "side file: $(cat "$TMP/side")"

babeltrace2 "$TMP/t" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt2.err")"
[ -s "$TMP/bt2.err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/bt2.err")"
"$RT" view "$TMP/t" >"$TMP/view.txt" 2>"$TMP/view.err" || fail "view: $(cat "$TMP/view.err")"
cmp -s "$TMP/bt2.txt" "$TMP/view.txt" || fail "ringtrace view differs from babeltrace2"
grep -q 'domain = "kernel";' "$TMP/t/kernel/metadata" || fail "metadata: no domain = kernel"
grep -q 'name = "sched_switch";' "$TMP/t/kernel/metadata" || fail "metadata: no sched_switch"

# One time line: each write() is between its two tracepoints.
awk -v pid="$pid" -v fd="$devnull" -v n=$N '
	/ kt:mark: / {
		match($0, /seq = [0-9]+, step = [0-9]+/); split(substr($0, RSTART, RLENGTH), a, /[ ,=]+/)
		seq = a[2]; step = a[4]
		if (step == 0) { open = seq; seen = 0 } else { if (seen != 1 || open != seq) bad++; ok += seen == 1; open = -1 }
		next
	}
	/ syscall_entry_write: / && index($0, "{ tid = " pid " }") && index($0, "fd = " fd ",") {
		match($0, /count = [0-9]+/); c = substr($0, RSTART + 8, RLENGTH - 8)
		if (open < 0 || c != (open % 200) + 1) bad++; else seen++
	}
	END { if (bad || ok != n) { printf "order: %d bad, %d of %d writes between their marks\n", bad, ok, n; exit 1 } }
' "$TMP/bt2.txt" || fail "kernel and user events out of order"

# The program: exec, its fork (a process) and its thread, the child's open.
grep -q "sched_process_exec: .*{ tid = $pid }, { filename = \"[^\"]*kt_prog\", tid = $pid, old_tid = $pid }" "$TMP/bt2.txt" ||
	fail "no sched_process_exec of $pid"
grep -q "sched_process_fork: .*parent_tid = $pid, parent_pid = $pid, .* child_tid = $child, _vtids_length = 1, vtids = \[ \[0\] = $child \], child_pid = $child," "$TMP/bt2.txt" ||
	fail "no sched_process_fork of the child process $child"
grep -q "sched_process_fork: .*parent_tid = $pid, parent_pid = $pid, .* child_tid = $thread, .* child_pid = $pid," "$TMP/bt2.txt" ||
	fail "no sched_process_fork of the thread $thread (child_pid = $pid)"
grep -q "syscall_exit_openat: .*{ tid = $child }, { ret = [0-9]" "$TMP/bt2.txt" || fail "no open in the child $child"
grep -q "sched_process_exit: .*{ tid = $child }, { comm = \"kt_prog\", tid = $child, prio = 20" "$TMP/bt2.txt" ||
	fail "no exit of the child $child"
grep -q "sched_waking: .*{ tid = $pid }, { comm = \"kt_prog\", tid = $thread, prio = 20," "$TMP/bt2.txt" ||
	fail "no sched_waking of the thread $thread by $pid"
grep -q "sched_switch: .*next_comm = \"kt_prog\", next_tid = $thread, next_prio = 20 }" "$TMP/bt2.txt" ||
	fail "no switch to the thread $thread"
# Only the program's processes: every syscall event is from the family.
fam=" $pid "
while read -r p c; do
	case "$fam" in *" $p "*) fam="$fam$c " ;; esac
done < <(sed -n 's/.*sched_process_fork: .*parent_tid = \([0-9]*\),.* child_tid = \([0-9]*\),.*/\1 \2/p' "$TMP/bt2.txt")
others=$(sed -n 's/.* syscall_[a-z]*_[a-z]*: { cpu_id = [0-9]* }, { tid = \([0-9]*\) }.*/\1/p' "$TMP/bt2.txt" | sort -u |
	while read -r t; do case "$fam" in *" $t "*) ;; *) echo "$t" ;; esac; done)
[ -z "$others" ] || fail "syscalls of other processes recorded: $others (program family:$fam)"
nk=$(grep -c ' syscall_\| sched_' "$TMP/bt2.txt")
echo "program: $nk kernel events, $N writes between their tracepoints, fork/exec/exit/waking of $pid $child $thread"

# The whole system, no program, until SIGINT (this shell holds fd 7 open
# on a file of its own: the statedump must list it).
exec 7>"$TMP/sd-fd7.txt"
"$RT" record -o "$TMP/sys" -k 'sched:sched_switch,syscalls:sys_enter_getppid' 2>"$TMP/sys.err" &
rp=$!
PIDS+=($rp)
for _ in $(seq 100); do grep -q "until SIGINT" "$TMP/sys.err" && break; sleep 0.1; done
gp=$("$PROG" getppid 1234)
kill -INT $rp
wait $rp || fail "record (whole system) exited $?: $(cat "$TMP/sys.err")"
ls -d $TFS/instances/ringtrace-$rp-* 2>/dev/null && fail "instance of $rp left behind"
babeltrace2 "$TMP/sys" >"$TMP/sys.txt" 2>"$TMP/sys.bterr" || fail "babeltrace2 (whole system)"
[ -s "$TMP/sys.bterr" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/sys.bterr")"
got=$(grep -c "syscall_entry_getppid: { cpu_id = [0-9]* }, { tid = $gp }" "$TMP/sys.txt")
[ "$got" -eq 1234 ] || fail "whole system: $got getppid calls of $gp, expected 1234"
[ "$(grep -c " sched_switch: " "$TMP/sys.txt")" -gt 0 ] || fail "whole system: no sched_switch"
"$RT" view "$TMP/sys" | cmp -s - "$TMP/sys.txt" || fail "whole system: view differs from babeltrace2"
echo "whole system: 1234 getppid of process $gp among $(wc -l <"$TMP/sys.txt") events"
# It begins with LTTng's statedump: one start, one end, between them every
# thread that existed, among them this shell (pid $$, its name as /proc
# has it, its parent), and kthreadd (pid 2) as a kernel thread (type 1).
check_sd() { # what expected got
	[ "$2" = "$3" ] || fail "statedump: $1: expected '$2', got '$3'"
}
check_sd "first event" lttng_statedump_start "$(head -1 "$TMP/sys.txt" | sed -n 's/.* \(lttng_statedump_[a-z_]*\): .*/\1/p')"
check_sd "starts" 1 "$(grep -c ' lttng_statedump_start: ' "$TMP/sys.txt")"
check_sd "ends" 1 "$(grep -c ' lttng_statedump_end: ' "$TMP/sys.txt")"
me=$(grep " lttng_statedump_process_state: .*{ tid = $$, vtid = $$, pid = $$, " "$TMP/sys.txt")
check_sd "this shell's parent" "$(awk '{print $4}' /proc/$$/stat)" "$(sed -n 's/.* ppid = \([0-9]*\),.*/\1/p' <<<"$me")"
check_sd "this shell's name" "$(cat /proc/$$/comm)" "$(sed -n 's/.* name = "\([^"]*\)",.*/\1/p' <<<"$me")"
check_sd "kthreadd is a kernel thread" 1 "$(grep -c ' lttng_statedump_process_state: .*{ tid = 2, vtid = 2, pid = 2, .*name = "kthreadd", type = 1,' "$TMP/sys.txt")"
nsd=$(grep -c ' lttng_statedump_process_state: ' "$TMP/sys.txt")
[ "$nsd" -ge 20 ] || fail "statedump: only $nsd threads"
echo "statedump: $nsd threads"
# ... every open file descriptor (this shell's fd 7, its flags as
# /proc/$$/fdinfo says them, written in octal),
fd7=$(grep " lttng_statedump_file_descriptor: .*{ pid = $$, fd = 7, " "$TMP/sys.txt")
check_sd "fd 7 of this shell" "$TMP/sd-fd7.txt" "$(sed -n 's/.* filename = "\([^"]*\)" }$/\1/p' <<<"$fd7")"
want=$(awk '/^flags:/ { print $2 + 0 }' /proc/$$/fdinfo/7)
check_sd "fd 7 flags (octal)" "$want" "$(sed -n 's/.* flags = 0*\([0-7]*\),.*/\1/p' <<<"$fd7")"
check_sd "fd 7 write-only" "0x2" "$(sed -n 's/.* fmode = \(0x[0-9A-Fa-f]*\),.*/\1/p' <<<"$fd7")"
exec 7>&-
# ... every block device (name and the kernel's dev_t, MKDEV(major, minor)),
nbd=0
for b in /sys/class/block/*; do
	[ -r "$b/dev" ] || continue
	IFS=: read -r ma mi <"$b/dev"
	nbd=$((nbd + 1))
	check_sd "block device $(basename "$b")" 1 \
		"$(grep -c " lttng_statedump_block_device: .*{ dev = $(((ma << 20) | mi)), diskname = \"$(basename "$b")\" }" "$TMP/sys.txt")"
done
check_sd "block devices" "$nbd" "$(grep -c ' lttng_statedump_block_device: ' "$TMP/sys.txt")"
# ... the first device interrupt with a handler in /proc/interrupts,
read -r irq act < <(awk 'NR == 1 { n = NF; next } $1 ~ /^[0-9]+:$/ && NF > n + 3 {
	a = ""; for (i = n + 4; i <= NF; i++) a = a (a == "" ? "" : " ") $i
	sub(/,.*/, "", a); sub(/:/, "", $1); print $1, a; exit }' /proc/interrupts)
if [ -n "${irq:-}" ]; then
	check_sd "interrupt $irq ($act)" 1 \
		"$(grep -c " lttng_statedump_interrupt: .*{ irq = $irq, name = \"[^\"]*\", action = \"$act\"," "$TMP/sys.txt")"
fi
# ... and the loopback interface's IPv4 address.
check_sd "lo 127.0.0.1" 1 \
	"$(grep -c ' lttng_statedump_network_interface: .*{ name = "lo", address_ipv4 = 0x7F000001 }' "$TMP/sys.txt")"
echo "statedump: $(grep -c ' lttng_statedump_file_descriptor: ' "$TMP/sys.txt") file descriptors, $nbd block devices," \
	"$(grep -c ' lttng_statedump_interrupt: ' "$TMP/sys.txt") interrupt actions," \
	"$(grep -c ' lttng_statedump_network_interface: ' "$TMP/sys.txt") interfaces"

# Unprivileged: a clear error naming root, the user-space trace unaffected.
# The build tree may not be reachable by nobody (a checkout under a 0700
# folder): it runs copies of ringtrace, the program and libringtrace.
mkdir "$TMP/u" "$TMP/ubin" && chmod 777 "$TMP/u"
URT=$TMP/ubin/ringtrace UPROG=$TMP/ubin/$(basename "$PROG")
cp "$RT" "$URT" && cp "$PROG" "$UPROG" || fail "cannot copy the binaries for nobody"
for lib in $(ldd "$RT" "$PROG" | awk '/libringtrace/ { print $3 }' | sort -u); do
	cp "$lib" "$TMP/ubin/" || fail "cannot copy $lib"
done
chmod -R a+rX "$TMP/ubin"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- env LD_LIBRARY_PATH="$TMP/ubin" \
	"$URT" record -o "$TMP/u/t" -k sched:sched_switch -- "$UPROG" "$TMP/u/side" 3 2>"$TMP/u.err" ||
	fail "unprivileged record exited $?: $(cat "$TMP/u.err")"
grep -q "kernel events not recorded: kernel events need root" "$TMP/u.err" || fail "no clear error: $(cat "$TMP/u.err")"
[ -d "$TMP/u/t/kernel" ] && fail "unprivileged: a kernel trace directory was made"
[ "$(babeltrace2 "$TMP/u/t" 2>/dev/null | grep -c ' kt:mark: ')" -eq 6 ] || fail "unprivileged: user-space trace incomplete"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- env LD_LIBRARY_PATH="$TMP/ubin" \
	"$URT" record -o "$TMP/u/k" -k sched:sched_switch 2>"$TMP/u2.err" && fail "unprivileged whole-system record succeeded"
grep -q "need root" "$TMP/u2.err" || fail "no clear error (whole system): $(cat "$TMP/u2.err")"
echo "unprivileged: '$(grep -o 'kernel events need root[^:]*' "$TMP/u.err" | head -1)', user-space trace kept"

# Tiny kernel buffers: what is not in the trace is counted as lost, in the
# summary, in the packets (babeltrace2's warnings) and by ringtrace stats;
# recorded + lost = what a run with large buffers records.
"$RT" record -q -o "$TMP/big" --kernel-buffer-size 64M -k syscalls:sys_enter_getppid -- "$PROG" getppid 100000 >/dev/null 2>"$TMP/big.err" ||
	fail "record (large buffers): $(cat "$TMP/big.err")"
want=$(babeltrace2 "$TMP/big" | grep -c ' syscall_entry_getppid: ')
[ "$want" -ge 100000 ] || fail "large buffers: $want getppid events"
"$RT" record -o "$TMP/small" --kernel-buffer-size 8k -k syscalls:sys_enter_getppid -- "$PROG" getppid 100000 >/dev/null 2>"$TMP/small.err" ||
	fail "record (small buffers): $(cat "$TMP/small.err")"
got=$(babeltrace2 "$TMP/small" 2>"$TMP/small.bterr" | grep -c ' syscall_entry_getppid: ')
bt_lost=$(grep -o 'Tracer discarded [0-9]* events' "$TMP/small.bterr" | awk '{ s += $3 } END { print s + 0 }')
rec_lost=$(sed -n 's/.*kernel trace written to .*: \([0-9]*\) events recorded, \([0-9]*\) lost/\2/p' "$TMP/small.err")
rec_got=$(sed -n 's/.*kernel trace written to .*: \([0-9]*\) events recorded, \([0-9]*\) lost/\1/p' "$TMP/small.err")
st_lost=$("$RT" stats "$TMP/small" 2>/dev/null | sed -n 's/^Discarded *\([0-9]*\) events.*/\1/p')
[ "$bt_lost" -gt 0 ] || fail "small buffers: nothing lost ($got recorded)"
[ "$rec_lost" = "$bt_lost" ] && [ "$st_lost" = "$bt_lost" ] && [ "$rec_got" = "$got" ] ||
	fail "small buffers: lost: summary $rec_lost, babeltrace2 $bt_lost, stats $st_lost; recorded: summary $rec_got, trace $got"
[ $((got + bt_lost)) -eq "$want" ] || fail "small buffers: $got recorded + $bt_lost lost != $want"
echo "small buffers: $got recorded + $bt_lost lost (babeltrace2, stats and the summary agree) = $want"

# What a ringtrace killed with -9 leaves (an instance, a uprobe group) is
# removed by the next one.
stale=2147483646
mkdir $TFS/instances/ringtrace-$stale-1 || fail "cannot make a stale instance"
off=$(nm "$PROG" | sed -n 's/^0*\([0-9a-f]*\) [Tt] kt_work$/\1/p')
echo "p:rtr_${stale}_1/stale $(readlink -f "$PROG"):0x$off" >>$TFS/uprobe_events || fail "cannot make a stale uprobe"
# (another ringtrace starting meanwhile, e.g. a test running in parallel,
# may be the one that reaps them: "gone" is what is checked)
"$RT" record -v -o "$TMP/reap" -k sched:sched_switch -- true 2>"$TMP/reap.err" || fail "record (reap): $(cat "$TMP/reap.err")"
[ -d $TFS/instances/ringtrace-$stale-1 ] && fail "stale instance kept"
grep -q "rtr_${stale}_1/" $TFS/uprobe_events && fail "stale uprobe kept"
who="by this run"
grep -q "removed the tracefs instance ringtrace-$stale-1" "$TMP/reap.err" || who="by another ringtrace"
echo "stale instance and uprobe of a dead ringtrace removed ($who)"
