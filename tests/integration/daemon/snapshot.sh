#!/bin/bash
# Flight recorder: a snapshot session with a small overwrite channel while
# a program logs without pause. `snapshot record` writes the newest data
# (no stop) that babeltrace2 reads; it holds the newest events the program
# had committed before the command (it wrote their count to a file), with
# no hole before them; a second snapshot is newer; --max-size bounds the
# bytes; errors are clear. docs/design/daemon.md §5.
. "$(dirname "$0")/lib.sh"
SIDE=$WORK/count
OUT=$WORK/fr

$RT create fr --snapshot -o "$OUT" >/dev/null || { fail "create --snapshot"; exit 1; }
$RT enable-channel -s fr --subbuf-size 4K --num-subbuf 4 ring >/dev/null || fail enable-channel
$RT enable-event -s fr -c ring dmn:tick >/dev/null || fail enable-event
$RT start fr >/dev/null || fail start
bg "$APP" loop "$SIDE"; A=$LAST
# the buffers (4 x 4 KiB per CPU) wrap many times over
for _ in $(seq 600); do [ "$(count "$SIDE")" -ge 30000 ] && break; sleep 0.05; done

snap() { # max-size (or empty) -> writes $WORK/snap.out, sets C0 (count before)
	C0=$(count "$SIDE")
	if [ -n "$1" ]; then $RT snapshot record -s fr --max-size "$1" >"$WORK/snap.out" 2>&1
	else $RT snapshot record -s fr >"$WORK/snap.out" 2>&1; fi || { fail "snapshot record: $(cat "$WORK/snap.out")"; return 1; }
	cat "$WORK/snap.out"
	SNAP=$(sed -n 's/.* written to \([^ ]*\) (ringtraced.*/\1/p' "$WORK/snap.out")
	[ -d "$SNAP" ] || { fail "snapshot directory '$SNAP'"; return 1; }
}
seqs() { bt "$1" | sed -n 's/.*dmn:tick: .*seq = \([0-9]*\),.*/\1/p' | sort -n -u; }

snap "" || exit 1
seqs "$SNAP" >"$WORK/s1"
N1=$(wc -l <"$WORK/s1"); MAX1=$(tail -1 "$WORK/s1")
echo "snapshot 1: $N1 events, newest seq $MAX1, program had committed $C0 before"
[ "$N1" -gt 100 ] || fail "snapshot 1 holds $N1 events"
[ "$MAX1" -ge $((C0 - 1)) ] || fail "snapshot 1: newest seq $MAX1 < $((C0 - 1)) committed before the command"
# the newest 100 events of the snapshot: all there (the per-CPU buffers
# may reach back differently, but a thread's last events are all in the
# sub-buffers closed at the cut)
check_eq "snapshot 1: no hole in its newest 100" 100 \
	"$(awk -v lo=$((MAX1 - 99)) '$1 >= lo' "$WORK/s1" | wc -l)"
check_eq "snapshot 1: only dmn:tick" 0 "$(bt "$SNAP" | grep -vc 'dmn:tick')"
grep -q "reach it" "$WORK/snap.out" || fail "snapshot does not say which streams reach the cut"
kill -0 "$A" || fail "the program stopped"

# tracing went on: a second snapshot is newer
snap "" || exit 1
MAX2=$(seqs "$SNAP" | tail -1)
[ "$MAX2" -gt "$MAX1" ] || fail "snapshot 2: newest seq $MAX2 not after $MAX1"
[ "$MAX2" -ge $((C0 - 1)) ] || fail "snapshot 2: newest seq $MAX2 < $((C0 - 1))"
check_eq "two snapshot directories" 2 "$(ls -d "$OUT"/snapshot-* | wc -l)"

# a budget: at most that many bytes, still the newest
CPUS=$(nproc)
snap $((CPUS * 8192)) || exit 1
B=$(sed -n 's/.* streams\?, \([0-9]*\) bytes,.*/\1/p' "$WORK/snap.out")
[ -n "$B" ] && [ "$B" -le $((CPUS * 8192)) ] || fail "--max-size $((CPUS * 8192)): $B bytes written"
MAX3=$(seqs "$SNAP" | tail -1)
[ "$MAX3" -ge $((C0 - 1)) ] || fail "snapshot 3: newest seq $MAX3 < $((C0 - 1))"

# errors: a budget below one sub-buffer per stream, a session that is not
# a snapshot session
$RT snapshot record -s fr --max-size 100 >"$WORK/e1" 2>&1 && fail "--max-size 100 accepted"
grep -q "too small" "$WORK/e1" || fail "--max-size 100: $(cat "$WORK/e1")"
$RT create plain -o "$WORK/plain" >/dev/null || fail "create plain"
$RT snapshot record -s plain >"$WORK/e2" 2>&1 && fail "snapshot of a normal session accepted"
grep -q "not a snapshot session" "$WORK/e2" || fail "snapshot of plain: $(cat "$WORK/e2")"

kill -TERM "$A"; wait_pid "$A" 10
for s in fr plain; do $RT destroy $s >/dev/null || fail "destroy $s"; done
exit $((FAILS > 0))
