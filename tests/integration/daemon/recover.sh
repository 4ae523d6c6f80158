#!/bin/bash
# `ringtrace recover` (issue 13, docs/design/daemon.md §8): what a dead
# recording leaves becomes a trace babeltrace2 and `ringtrace view` read.
# - the session daemon killed with SIGKILL mid-session: `recover --all`
#   finds the session in the daemon's state directory and completes it;
#   the events read back are the programs' own sequence numbers, each once,
#   in order, none beyond what the programs say they committed;
# - `ringtrace record` killed with SIGKILL: `recover DIR`;
# - last packets cut short at chosen points (inside a record, inside the
#   header), a damaged index: the records kept are exactly the whole ones
#   of the original packet, the index rebuilt is the host's own;
# - idempotent (a second run changes no byte), refuses what is not a
#   ringtrace trace (clear message, no crash), refuses a live session.
. "$(dirname "$0")/lib.sh"

# seqs of dmn:tick of pid $2 in trace $1, in time order
seqs() { bt "$1" | grep "($2) dmn:tick" | sed -n 's/.*seq = \([0-9]*\),.*/\1/p'; }
# "count first last increasing" of a list of numbers
summary() { awk 'NR == 1 { f = $1; p = -1; ok = 1 } { if ($1 <= p) ok = 0; p = $1; n++ }
	END { print n + 0, f + 0, p + 0, ok + 0 }'; }
# the count a program last wrote to side file $1 (0 while none, or while it
# is being rewritten)
view_eq_bt() { # the reader and babeltrace2 agree on trace $1
	local a b
	a=$(bt "$1" | md5sum) || return
	b=$($RT view "$1" 2>"$WORK/view.err" | md5sum)
	check_eq "ringtrace view = babeltrace2 on $(basename "$1")" "$a" "$b"
}

# ---- 1. the daemon killed with SIGKILL mid-session --------------------
$RT create s1 -o "$WORK/o1" >/dev/null || { fail "create"; exit 1; }
$RT enable-channel -s s1 --subbuf-size 16K --num-subbuf 8 c >/dev/null || fail "channel"
$RT enable-event -s s1 -c c dmn:tick >/dev/null || fail "enable"
$RT start s1 >/dev/null || fail "start"
check_eq "state file of s1 says active" "active 1" "$(grep -h '^active' "$RINGTRACE_RUNDIR"/state/s-* 2>/dev/null)"
bg "$APP" loop "$WORK/side1"; A1=$LAST
bg "$APP" loop "$WORK/side2"; A2=$LAST
for _ in $(seq 600); do
	[ "$(count "$WORK/side1")" -ge 30000 ] && [ "$(count "$WORK/side2")" -ge 30000 ] && break
	sleep 0.05
done
# a live session's directory is refused
$RT recover "$WORK/o1" >"$WORK/live.out" 2>&1
check_eq "recover of a live session refused (status)" 2 $?
grep -q "session s1 of the running session daemon" "$WORK/live.out" || fail "live refusal says why: $(cat "$WORK/live.out")"
D=$(daemon_pid)
kill -KILL "$D"
for _ in $(seq 100); do kill -0 "$D" 2>/dev/null || break; sleep 0.05; done
# the programs go on without a daemon; stop them and read what they committed
sleep 0.3
# stopped while not rewriting its side file (fopen "w" empties it first)
stopped_count() {
	local c
	for _ in $(seq 50); do
		kill -STOP "$1"; c=$(count "$2"); [ "$c" -gt 0 ] && break
		kill -CONT "$1"; sleep 0.01
	done
	echo "$c"
}
C1=$(stopped_count "$A1" "$WORK/side1"); C2=$(stopped_count "$A2" "$WORK/side2")
kill -KILL "$A1" "$A2"; wait_pid "$A1" 10; wait_pid "$A2" 10

$RT recover --all >"$WORK/all.out" 2>&1
check_eq "recover --all status" 0 $?
cat "$WORK/all.out"
grep -q "session s1 (was recording, daemon pid $D gone)" "$WORK/all.out" || fail "recover --all names s1"
grep -q "its state file removed" "$WORK/all.out" || fail "state file removed"
check_eq "state files left" 0 "$(ls "$RINGTRACE_RUNDIR/state" | wc -l)"
for p in $A1 $A2; do
	c=$C1; [ "$p" = "$A2" ] && c=$C2
	read -r n first last inc <<<"$(seqs "$WORK/o1" "$p" | summary)"
	check_eq "pid $p: seqs increasing (each once)" 1 "$inc"
	[ "$n" -ge 1000 ] || fail "pid $p: only $n events on disk"
	# (the program writes its count every 1000 events)
	[ "$last" -lt $((c + 1000)) ] || fail "pid $p: seq $last read back, but the program committed only $c"
	echo "pid $p: $n events read back (seq $first..$last), the program committed $c"
done
view_eq_bt "$WORK/o1"
# idempotent: nothing to do, no byte changes
before=$(cd "$WORK/o1" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum)
$RT recover "$WORK/o1" >"$WORK/again.out" 2>&1 || fail "second recover: $(cat "$WORK/again.out")"
grep -q "complete already" "$WORK/again.out" || fail "second recover finds work: $(cat "$WORK/again.out")"
check_eq "second recover changes no byte" "$before" \
	"$(cd "$WORK/o1" && find . -type f -print0 | sort -z | xargs -0 md5sum | md5sum)"
$RT recover --all >"$WORK/all2.out" 2>&1 || fail "recover --all again"
grep -q "no session of a dead daemon" "$WORK/all2.out" || fail "recover --all again: $(cat "$WORK/all2.out")"

# ---- 2. packets cut at chosen points, a damaged index -----------------
T=$(ls -d "$WORK"/o1/dmn_app-"$A1")
S=$(ls -S "$T" | grep '^c_' | head -1) # the largest stream
IDX="$T/index/$S.idx"
NP=$((($(stat -c %s "$IDX") - 16) / 72))
# the last packet: offset and size from the (host's) index, big-endian
OFF=$(od -An -tx1 -j $((16 + (NP - 1) * 72)) -N 8 "$IDX" | tr -d ' \n'); OFF=$((16#$OFF))
PSZ=$(od -An -tx1 -j $((16 + (NP - 1) * 72 + 8)) -N 8 "$IDX" | tr -d ' \n'); PSZ=$((16#$PSZ / 8))
echo "stream $S: $NP packets, the last at $OFF ($PSZ bytes)"
ALL=$(seqs "$WORK/o1" "$A1" | sort)
# the records of the last packet: those gone when the file ends before it
cp -a "$T" "$WORK/only" && truncate -s "$OFF" "$WORK/only/$S" || fail "copy"
$RT recover -q "$WORK/only" || fail "recover of a copy cut at a packet's start"
LASTSET=$(seqs "$WORK/only" "$A1" | sort | comm -23 <(echo "$ALL") - | sort -n)
INLAST=$(echo "$LASTSET" | grep -c .)
echo "records of pid $A1 in the last packet: $INLAST"
[ "${INLAST:-0}" -ge 2 ] || fail "the last packet holds too few records to cut ($INLAST)"
for cut in mid header; do
	rm -rf "$WORK/cut"; cp -a "$T" "$WORK/cut"
	if [ $cut = mid ]; then
		# a byte past the middle of the packet: some whole records before it
		truncate -s $((OFF + PSZ / 2 + 1)) "$WORK/cut/$S"
		# and the index: a partial last entry
		truncate -s $(($(stat -c %s "$IDX") - 30)) "$WORK/cut/index/$S.idx"
	else
		truncate -s $((OFF + 40)) "$WORK/cut/$S"
		head -c 100 /dev/urandom >>"$WORK/cut/index/$S.idx"
	fi
	$RT recover "$WORK/cut" >"$WORK/cut.out" 2>&1
	check_eq "recover ($cut cut) status" 0 $?
	cat "$WORK/cut.out"
	got=$(seqs "$WORK/cut" "$A1" | sort)
	check_eq "$cut: every seq kept was in the original" 0 "$(comm -13 <(echo "$ALL") <(echo "$got") | wc -l)"
	missing=$(comm -23 <(echo "$ALL") <(echo "$got") | wc -l)
	if [ $cut = mid ]; then
		kept=$(sed -n 's/.*cut after its last whole record: \([0-9]*\) record.*/\1/p' "$WORK/cut.out")
		[ -n "$kept" ] && [ "$kept" -gt 0 ] || fail "mid: no record kept from the cut packet"
		[ "$missing" -gt 0 ] && [ "$missing" -lt "$INLAST" ] ||
			fail "mid: $missing of the last packet's $INLAST records missing"
		# exactly a prefix of the packet is kept: the dropped are its newest
		check_eq "mid: the records dropped are the packet's newest (md5)" \
			"$(echo "$LASTSET" | tail -n "$missing" | md5sum)" \
			"$(comm -23 <(echo "$ALL") <(echo "$got") | sort -n | md5sum)"
		# the rebuilt index holds the host's entries of the packets kept whole
		cmp -s -n $((16 + (NP - 1) * 72)) "$IDX" "$WORK/cut/index/$S.idx" ||
			fail "mid: the rebuilt index differs from the host's"
	else
		check_eq "header: the whole last packet is gone" "$INLAST" "$missing"
		check_eq "header: index entries" $((NP - 1)) $((($(stat -c %s "$WORK/cut/index/$S.idx") - 16) / 72))
		cmp -s -n $((16 + (NP - 1) * 72)) "$IDX" "$WORK/cut/index/$S.idx" ||
			fail "header: the rebuilt index differs from the host's"
	fi
	view_eq_bt "$WORK/cut"
done

# ---- 3. `ringtrace record` killed with SIGKILL ------------------------
bg "$RT" record -o "$WORK/rec" -- "$APP" loop "$WORK/side3"; R=$LAST
for _ in $(seq 600); do [ "$(count "$WORK/side3")" -ge 20000 ] && break; sleep 0.05; done
sleep 1.2 # past a metadata checkpoint
RA=$(pgrep -P "$R" dmn_app)
kill -KILL "$R"; wait_pid "$R" 10
[ -n "$RA" ] && { kill -KILL "$RA" 2>/dev/null; PIDS="$PIDS $RA"; }
$RT recover "$WORK/rec" >"$WORK/rec.out" 2>&1
check_eq "recover after record SIGKILL status" 0 $?
cat "$WORK/rec.out"
read -r n first last inc <<<"$(seqs "$WORK/rec" "$RA" | summary)"
check_eq "record: seqs increasing" 1 "$inc"
[ "$n" -ge 1000 ] || fail "record: only $n events"
view_eq_bt "$WORK/rec"

# ---- 4. what is not a ringtrace trace ---------------------------------
mkdir -p "$WORK/g/empty" "$WORK/g/junk/t" "$WORK/g/other" "$WORK/g/trunc"
$RT recover "$WORK/g/empty" >"$WORK/g.out" 2>&1
check_eq "empty directory: status" 2 $?
grep -q "not a ringtrace trace" "$WORK/g.out" || fail "empty directory: $(cat "$WORK/g.out")"
head -c 5000 /dev/urandom >"$WORK/g/junk/t/metadata"
head -c 5000 /dev/urandom >"$WORK/g/junk/t/c_0"
$RT recover "$WORK/g/junk" >"$WORK/g.out" 2>&1
rc=$?; [ $rc -eq 1 ] || fail "garbage metadata: status $rc"
grep -q "not a ringtrace trace" "$WORK/g.out" || fail "garbage metadata: $(cat "$WORK/g.out")"
cp -a "$T"/. "$WORK/g/other/"
sed -i 's/tracer_name = "ringtrace"/tracer_name = "lttng-ust"/' "$WORK/g/other/metadata"
$RT recover "$WORK/g/other" >"$WORK/g.out" 2>&1
rc=$?; [ $rc -eq 1 ] || fail "another tracer: status $rc"
grep -q "metadata of another tracer" "$WORK/g.out" || fail "another tracer: $(cat "$WORK/g.out")"
# a cut metadata: said, not crashed; a stream of garbage: left alone
cp -a "$T"/. "$WORK/g/trunc/"
truncate -s $(($(stat -c %s "$WORK/g/trunc/metadata") / 2)) "$WORK/g/trunc/metadata"
head -c 3000 /dev/urandom >"$WORK/g/trunc/c_9"
$RT recover "$WORK/g/trunc" >"$WORK/g.out" 2>&1
rc=$?; [ $rc -eq 1 ] || fail "cut metadata: status $rc"
grep -q "still not readable" "$WORK/g.out" || fail "cut metadata: $(cat "$WORK/g.out")"
grep -q "c_9: not a ringtrace stream file" "$WORK/g.out" || fail "garbage stream: $(cat "$WORK/g.out")"
check_eq "garbage stream left as it was" 3000 "$(stat -c %s "$WORK/g/trunc/c_9")"
# a valid first packet followed by garbage: the garbage is cut and kept aside
mkdir -p "$WORK/g/tail"; cp -a "$T"/. "$WORK/g/tail/"
head -c 500 /dev/urandom >>"$WORK/g/tail/$S"
$RT recover "$WORK/g/tail" >"$WORK/g.out" 2>&1
check_eq "garbage after packets: status" 0 $?
ls -a "$WORK/g/tail" | grep -q "^\.$S\.cut-at-" || fail "garbage after packets not kept aside: $(cat "$WORK/g.out")"
view_eq_bt "$WORK/g/tail"
$RT recover "$WORK/nonexistent" >"$WORK/g.out" 2>&1
check_eq "a missing directory: status" 2 $?
printf 'ringtrace-session 1\nname x\noutput relative\n' >"$RINGTRACE_RUNDIR/state/s-78"
chmod 600 "$RINGTRACE_RUNDIR/state/s-78"
$RT recover --all >"$WORK/g.out" 2>&1
grep -q "s-78: bad output directory: ignored" "$WORK/g.out" || fail "bad state file: $(cat "$WORK/g.out")"
exit $((FAILS > 0))
