#!/bin/bash
# Per-user buffers (`enable-channel --buffers-uid`, docs/design/daemon.md §9):
# - several programs, started before and after `start`, and one whose
#   dmn:tick conflicts with theirs, record into one stream per CPU: every
#   event exactly once, ids shared, the conflicting event refused for that
#   program only; `ringtrace view` and babeltrace2 print the same text;
# - a program killed with SIGKILL between a reserve and its commit loses
#   nothing it committed, and the program still writing the same buffer is
#   recorded again once the dead writer's sub-buffer is closed; destroyed
#   at once after such a death, the session salvages the buffers;
# - `snapshot record` holds the events of programs that have exited;
# - a hostile program that scribbles the shared control area of one buffer:
#   the daemon says so and lives, every other buffer's events are kept.
. "$(dirname "$0")/lib.sh"
: "${UAPP:?}" "${UCONF:?}"
U=$(id -u)
NCPU=$(nproc)
vp() { grep -E "vpid = $1[,} ]"; }
seqs() { sed -n 's/.* seq = \([0-9]*\),.*/\1/p'; }

# ---------------------------------------------------------------- several
$RT create u1 -o "$WORK/o1" >/dev/null || { fail "create u1"; exit 1; }
$RT enable-channel -s u1 --buffers-uid --subbuf-size 64K --num-subbuf 8 c >"$WORK/ch1" ||
	fail "enable-channel --buffers-uid: $(cat "$WORK/ch1")"
grep -q "per CPU and user" "$WORK/ch1" || fail "enable-channel answer: $(cat "$WORK/ch1")"
$RT enable-event -s u1 -c c 'dmn:*' >/dev/null || fail "enable dmn"
$RT enable-event -s u1 -c c 'uidc:*' >/dev/null || fail "enable uidc"
$RT add-context -s u1 -c c -t vpid -t vtid -t procname >/dev/null || fail "add-context"
bg "$APP" wait "$WORK/go1" 2000; P1=$LAST
bg "$APP" wait "$WORK/go1" 2000; P2=$LAST
wait_for "$P2 \(dmn_app\)" $RT list
$RT start u1 >/dev/null || fail "start u1"
bg "$APP" run 2000; P3=$LAST
bg "$APP" run 2000; P4=$LAST
bg "$UCONF" 300; C=$LAST
touch "$WORK/go1"
for p in $P1 $P2 $P3 $P4 $C; do wait_pid $p 60; done
$RT status -s u1 >"$WORK/status1" || fail "status u1"
grep -q "per-user buffers" "$WORK/status1" || fail "status: $(cat "$WORK/status1")"
$RT stop u1 >"$WORK/stop1" 2>&1 || fail "stop u1: $(cat "$WORK/stop1")"
cat "$WORK/stop1"
# 2 x (2000 ticks + 200 warns) before start + 2 x (the same + dmn:start)
# + 300 uidc:ok
check_eq "u1: recorded (stop)" "channel c: 9102 events recorded, 0 lost" \
	"$(grep -o 'channel c: .*' "$WORK/stop1")"
check_eq "u1: one trace, the user's" "uid-$U" "$(ls "$WORK/o1")"
n=$(ls "$WORK/o1/uid-$U" | grep -c '^c_[0-9]*$')
[ "$n" -ge 1 ] && [ "$n" -le "$NCPU" ] || fail "u1: $n streams for $NCPU CPUs"
bt "$WORK/o1" >"$WORK/bt1" || exit 1
check_eq "u1: events in the trace" 9102 "$(wc -l <"$WORK/bt1")"
for p in $P1 $P2 $P3 $P4; do
	check_eq "u1: ticks of $p" 2000 "$(vp $p <"$WORK/bt1" | grep -c 'dmn:tick')"
	check_eq "u1: distinct seq of $p" 2000 "$(vp $p <"$WORK/bt1" | grep 'dmn:tick' | seqs | sort -un | wc -l)"
	check_eq "u1: last seq of $p" 1999 "$(vp $p <"$WORK/bt1" | grep 'dmn:tick' | seqs | sort -n | tail -1)"
	check_eq "u1: warns of $p" 200 "$(vp $p <"$WORK/bt1" | grep -c 'dmn:warn')"
done
# started after start: traced from the first line of main()
for p in $P3 $P4; do check_eq "u1: dmn:start of $p" 1 "$(vp $p <"$WORK/bt1" | grep -c 'dmn:start')"; done
check_eq "u1: conflicting dmn:tick of $C not traced" 0 "$(vp $C <"$WORK/bt1" | grep -c 'dmn:tick')"
check_eq "u1: uidc:ok of $C" 300 "$(vp $C <"$WORK/bt1" | grep -c 'uidc:ok')"
grep -q "process $C (uid_conflict): event dmn:tick differs" "$RINGTRACE_RUNDIR/daemon.log" ||
	fail "no refusal of the conflicting dmn:tick in the daemon's log"
"$RT" view "$WORK/o1" >"$WORK/view1" 2>"$WORK/view1.err" || fail "view: $(head -3 "$WORK/view1.err")"
cmp -s "$WORK/bt1" "$WORK/view1" && echo "ok: view = babeltrace2" || fail "ringtrace view differs from babeltrace2"
grep -q 'tracer_buffering_scheme = "uid"' "$WORK/o1/uid-$U/metadata" || fail "metadata: no buffering scheme"
$RT destroy u1 >/dev/null || fail "destroy u1"

# ------------------------------------------------ a writer killed mid-record
$RT create u2 -o "$WORK/o2" >/dev/null || fail "create u2"
$RT enable-channel -s u2 --buffers-uid --subbuf-size 64K --num-subbuf 8 c >/dev/null || fail "channel u2"
$RT enable-event -s u2 -c c 'dmn:*' >/dev/null || fail "enable u2"
$RT add-context -s u2 -c c -t vpid >/dev/null || fail "context u2"
$RT start u2 >/dev/null || fail "start u2"
# K commits 3000 events on CPU 0 alone, then L writes the same buffer (at
# most 100 000 events/s), then K dies holding a slot in it
bg "$UAPP" die 3000 "$WORK/sideK" "$WORK/goK"; K=$LAST
for _ in $(seq 600); do [ -s "$WORK/sideK" ] && break; sleep 0.05; done
bg taskset -c 0 "$APP" slow "$WORK/sideL"; L=$LAST
for _ in $(seq 600); do [ -s "$WORK/sideL" ] && break; sleep 0.05; done
touch "$WORK/goK"
wait_pid $K 30
NK=$(cat "$WORK/sideK" 2>/dev/null)
[ -n "$NK" ] && [ "$NK" -ge 3000 ] || fail "the dying program wrote $NK"
L0=$(cat "$WORK/sideL")
wait_for "a program died while writing the per-user buffer of CPU 0" cat "$RINGTRACE_RUNDIR/daemon.log"
# L goes on; what it writes from now on must reach the trace again
L1=$(cat "$WORK/sideL")
for _ in $(seq 600); do [ "$(cat "$WORK/sideL")" -ge $((L1 + 30000)) ] && break; sleep 0.05; done
$RT stop u2 >"$WORK/stop2" 2>&1 || fail "stop u2"
cat "$WORK/stop2"
grep -q "packets closed after a writer died" "$WORK/stop2" || fail "stop does not count the closed packet"
kill -KILL $L; wait $L 2>/dev/null
bt "$WORK/o2" >"$WORK/bt2" || exit 1
check_eq "u2: ticks of the killed program (all it committed)" "$NK" "$(vp $K <"$WORK/bt2" | grep -c 'dmn:tick')"
check_eq "u2: distinct seq of the killed program" "$NK" "$(vp $K <"$WORK/bt2" | grep 'dmn:tick' | seqs | sort -un | wc -l)"
nl=$(vp $L <"$WORK/bt2" | grep 'dmn:tick' | seqs | sort -un | wc -l)
check_eq "u2: no tick of L twice" "$nl" "$(vp $L <"$WORK/bt2" | grep -c 'dmn:tick')"
late=$(vp $L <"$WORK/bt2" | grep 'dmn:tick' | seqs | awk -v m=$((L1 + 1000)) '$1 > m' | wc -l)
[ "$late" -ge 1000 ] && echo "ok: L recorded after the stall ($late events)" ||
	fail "L not recorded after the dead writer's sub-buffer ($late events past $((L1 + 1000)))"
$RT view "$WORK/o2" >"$WORK/view2" 2>/dev/null && cmp -s "$WORK/bt2" "$WORK/view2" && echo "ok: view = babeltrace2" ||
	fail "u2: ringtrace view differs from babeltrace2"
$RT destroy u2 >/dev/null || fail "destroy u2"

# a writer dies holding a slot and the session is destroyed at once: no
# writer is left, the buffers are salvaged (nothing it committed is lost)
$RT create u5 -o "$WORK/o5" >/dev/null || fail "create u5"
$RT enable-channel -s u5 --buffers-uid c >/dev/null || fail "channel u5"
$RT enable-event -s u5 -c c 'dmn:*' >/dev/null || fail "enable u5"
$RT add-context -s u5 -c c -t vpid >/dev/null || fail "context u5"
$RT start u5 >/dev/null || fail "start u5"
touch "$WORK/goK5"
bg "$UAPP" die 500 "$WORK/sideK5" "$WORK/goK5"; K5=$LAST
wait_pid $K5 30
$RT destroy u5 >"$WORK/destroy5" 2>&1 || fail "destroy u5"
cat "$WORK/destroy5"
grep -q "1 packets closed after a writer died" "$WORK/destroy5" || fail "u5: destroy does not count the cut"
check_eq "u5: ticks of the killed program" "$(cat "$WORK/sideK5")" "$(bt "$WORK/o5" | vp $K5 | grep -c 'dmn:tick')"

# ------------------------------------------------- snapshot of exited programs
$RT create u3 --snapshot -o "$WORK/o3" >/dev/null || fail "create u3"
$RT enable-channel -s u3 --buffers-uid --subbuf-size 64K --num-subbuf 4 c >/dev/null || fail "channel u3"
$RT enable-event -s u3 -c c 'dmn:*' >/dev/null || fail "enable u3"
$RT add-context -s u3 -c c -t vpid >/dev/null || fail "context u3"
$RT start u3 >/dev/null || fail "start u3"
bg "$APP" run 500; E1=$LAST
wait_pid $E1 30
bg "$APP" run 300; E2=$LAST
wait_pid $E2 30
$RT snapshot record -s u3 >"$WORK/snap3" 2>&1 || fail "snapshot: $(cat "$WORK/snap3")"
cat "$WORK/snap3"
d=$(ls -d "$WORK"/o3/snapshot-1/uid-$U 2>/dev/null)
[ -n "$d" ] || fail "no per-user trace in the snapshot: $(ls -R "$WORK/o3" | head)"
bt "$WORK/o3/snapshot-1" >"$WORK/bt3" || exit 1
check_eq "u3: events of exited $E1" 551 "$(vp $E1 <"$WORK/bt3" | wc -l)"
check_eq "u3: events of exited $E2" 331 "$(vp $E2 <"$WORK/bt3" | wc -l)"
$RT view "$WORK/o3/snapshot-1" >"$WORK/view3" 2>/dev/null && cmp -s "$WORK/bt3" "$WORK/view3" &&
	echo "ok: view = babeltrace2" || fail "u3: ringtrace view differs from babeltrace2"
$RT destroy u3 >/dev/null || fail "destroy u3"

# ------------------------------------------------------------ hostile program
if [ "$NCPU" -ge 2 ]; then
	DPID=$(daemon_pid)
	$RT create u4 -o "$WORK/o4" >/dev/null || fail "create u4"
	$RT enable-channel -s u4 --buffers-uid --subbuf-size 16K --num-subbuf 8 c >/dev/null || fail "channel u4"
	$RT enable-event -s u4 -c c 'dmn:*' >/dev/null || fail "enable u4"
	$RT add-context -s u4 -c c -t vpid >/dev/null || fail "context u4"
	$RT start u4 >/dev/null || fail "start u4"
	bg taskset -c 0 "$APP" run 1000; G=$LAST
	wait_pid $G 30
	bg taskset -c 1 "$UAPP" scribble 1 100; H=$LAST
	wait_pid $H 30
	# the user's buffer of CPU 1 is garbage now: a program started next
	# leaves that one unmapped and records in the others
	bg taskset -c 0 "$APP" run 500; G2=$LAST
	wait_pid $G2 30
	$RT stop u4 >"$WORK/stop4" 2>&1 || fail "stop u4: $(cat "$WORK/stop4")"
	cat "$WORK/stop4"
	check_eq "u4: the daemon lives" "$DPID" "$(daemon_pid)"
	kill -0 "$DPID" 2>/dev/null || fail "u4: the daemon died"
	grep -q "per-user buffers of user $U (session u4, channel c): buffer of CPU 1 is damaged" "$RINGTRACE_RUNDIR/daemon.log" ||
		fail "u4: no damage reported: $(tail -5 "$RINGTRACE_RUNDIR/daemon.log")"
	bt "$WORK/o4" >"$WORK/bt4" || exit 1
	check_eq "u4: events of $G (CPU 0)" 1101 "$(vp $G <"$WORK/bt4" | wc -l)"
	check_eq "u4: events of $G2 (CPU 0, started after the scribble)" 551 "$(vp $G2 <"$WORK/bt4" | wc -l)"
	$RT view "$WORK/o4" >"$WORK/view4" 2>/dev/null && cmp -s "$WORK/bt4" "$WORK/view4" &&
		echo "ok: view = babeltrace2" || fail "u4: ringtrace view differs from babeltrace2"
	$RT destroy u4 >/dev/null || fail "destroy u4"
	$RT list >/dev/null || fail "list after the hostile program"
fi

[ "$FAILS" -eq 0 ] && echo "PASS" || { echo "$FAILS failure(s)"; exit 1; }
