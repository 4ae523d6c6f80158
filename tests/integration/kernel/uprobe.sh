#!/bin/bash
# Uprobes (`record --probe/--probe-ret/--probe-arg`) on a program with no
# tracepoints: libc's exported atoi() (a Debian binary: entry with its
# string argument, return with its value) and the program's own
# plain_work() (arguments located from its DWARF). Every call is recorded,
# in order, with the right values, only for the program; bad probes get a
# clear error and leave no probe behind.
# Usage: uprobe.sh RINGTRACE KT_PROG KT_PLAIN
set -u
RT=$1 PLAIN=$3
TMP=$(mktemp -d)
PIDS=()
TFS=/sys/kernel/tracing
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for d in $TFS/instances/ringtrace-"$p"-*; do
			[ -d "$d" ] && { echo 0 >"$d/tracing_on"; rmdir "$d"; }
		done
		sed -n "s/^[pr]:\(rtr_${p}_[0-9]*\/[^ ]*\) .*/-:\1/p" $TFS/uprobe_events >>$TFS/uprobe_events
	done 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: uprobes need root"; exit 77; }
grep -qw tracefs /proc/filesystems || { echo "SKIPPED: this kernel has no tracefs"; exit 77; }
TFS=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts)
if [ -z "$TFS" ]; then
	mount -t tracefs nodev /sys/kernel/tracing || { echo "SKIPPED: cannot mount tracefs"; exit 77; }
	TFS=/sys/kernel/tracing
fi
[ -e "$TFS/uprobe_events" ] || { echo "SKIPPED: this kernel has no uprobes (CONFIG_UPROBE_EVENTS)"; exit 77; }

N=300
"$RT" record -o "$TMP/t" --probe libc.so.6:atoi --probe-arg 's=+0(%di):string' \
	--probe-ret libc.so.6:atoi --probe "$PLAIN:plain_work" --probe-arg a --probe-arg b \
	-- "$PLAIN" $N >"$TMP/out" 2>"$TMP/rec.err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "record exited $?: $(cat "$TMP/rec.err")"
grep -q "rtr_${rp}_" $TFS/uprobe_events && fail "uprobes of $rp left behind"
ls -d $TFS/instances/ringtrace-$rp-* 2>/dev/null && fail "instance of $rp left behind"
read -r pid s1 s2 _ <"$TMP/out"
[ "$s1" -eq $((N * (N - 1) / 2)) ] || fail "program output: $(cat "$TMP/out")"
babeltrace2 "$TMP/t" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt2.err")"
[ -s "$TMP/bt2.err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/bt2.err")"
"$RT" view "$TMP/t" | cmp -s - "$TMP/bt2.txt" || fail "ringtrace view differs from babeltrace2"
awk -v pid="$pid" -v n=$N '
	BEGIN { e = r = w = 0 }
	!index($0, "{ tid = " pid " }") { other++; next }
	/ uprobe_atoi: / { if ($0 !~ ("s = \"" e "\" }$")) bad++; e++ }
	/ uretprobe_atoi: / { if ($0 !~ ("ret = " r " }$")) bad++; r++ }
	/ uprobe_plain_work: / { if ($0 !~ ("a = " w ", b = " 2 * w " }$")) bad++; w++ }
	END {
		if (other || bad || e != n || r != n || w != n) {
			printf "%d other tids, %d wrong values; atoi %d, return %d, plain_work %d of %d\n", other, bad, e, r, w, n
			exit 1
		}
	}' "$TMP/bt2.txt" || fail "uprobe events"
echo "uprobes: $N calls each of atoi (string argument), its return and plain_work (DWARF arguments), in order, values right"

# Bad probes: a clear error, the program still runs, no probe left.
try() {
	local want=$1
	shift
	"$RT" record -o "$TMP/bad$#" "$@" -- "$PLAIN" 3 >/dev/null 2>"$TMP/bad.err" &
	local p=$!
	PIDS+=($p)
	wait $p || fail "record $* exited $?: $(cat "$TMP/bad.err")"
	grep -q "kernel events not recorded: .*$want" "$TMP/bad.err" || fail "record $*: expected '$want', got: $(cat "$TMP/bad.err")"
	grep -q "rtr_${p}_" $TFS/uprobe_events && fail "record $*: uprobes left behind"
	rm -rf "$TMP"/bad*
	echo "  $*: '$want'"
}
try "no such program or library: nosuchbin" --probe nosuchbin:f
try "no function nosuchfunc" --probe libc.so.6:nosuchfunc
try "is an IFUNC" --probe libc.so.6:strlen
try "no parameter named zz" --probe "$PLAIN:plain_work" --probe-arg zz
try "the kernel refused the probe" --probe "$PLAIN:plain_work" --probe "$PLAIN:main" --probe-arg 'x=%nosuchreg'
echo "bad probes: clear errors, nothing left behind"
