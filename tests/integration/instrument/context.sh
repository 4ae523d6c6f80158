#!/bin/bash
# record --context ip,vtid,vpid,procname,pthread_id: every event carries
# the values the program itself prints (pid, tid, pthread_self, thread
# name), also in a second thread that renamed itself and in a fork child
# (whose cached ids must not be the parent's); ip lies inside the function
# that holds the tracepoint (its address printed by the program, its size
# from nm). babeltrace2 reads the context and prints what `ringtrace view`
# prints.
# Usage: context.sh RINGTRACE CTX_PROG
set -u
RT=$1 PROG=$2
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$RT" record -q -o "$TMP/t" --context ip,vtid,vpid,procname,pthread_id \
	-- "$PROG" ctxmain >"$TMP/out" 2>"$TMP/rec.err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "record: $(cat "$TMP/rec.err")"
[ "$(wc -l <"$TMP/out")" -eq 5 ] || fail "program output: $(cat "$TMP/out")"
: >"$TMP/got"
n=0
for d in "$TMP"/t/*/; do
	babeltrace2 "$d" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt2.err")"
	[ -s "$TMP/bt2.err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/bt2.err")"
	"$RT" view "$d" | cmp -s - "$TMP/bt2.txt" || fail "ringtrace view differs from babeltrace2 on $d"
	# "who seq vpid vtid pthread_id(hex) procname ip"
	# (the channel context's order, daemon.md §3.2: vpid, vtid, procname,
	# pthread_id in hex, ip; whatever order --context names them in)
	sed -n 's/.* ctxt:mark: { cpu_id = [0-9]* }, { vpid = \([0-9]*\), vtid = \([0-9]*\), procname = "\([^"]*\)", pthread_id = 0x\([0-9A-F]*\), ip = 0x\([0-9A-F]*\) }, { who = \([0-9]*\), seq = \([0-9]*\) }$/\6 \7 \1 \2 \4 \3 \5/p' \
		"$TMP/bt2.txt" >>"$TMP/got"
	n=$((n + 1))
done
[ "$n" -eq 2 ] || fail "expected 2 traces (the program and its fork child), got $n"
[ "$(wc -l <"$TMP/got")" -eq 5 ] || fail "expected 5 events with the context: $(cat "$TMP/got")"
sz() { nm -S "$PROG" | awk -v f="$1" '$4 == f { print $2 }'; }
main_sz=$((16#$(sz ctx_main_site))) thr_sz=$((16#$(sz ctx_thread_site)))
[ "$main_sz" -gt 0 ] && [ "$thr_sz" -gt 0 ] || fail "nm: no sizes of the site functions"
while read -r who seq pid tid pth name fn; do
	line=$(awk -v w="$who" -v s="$seq" '$1 == w && $2 == s' "$TMP/got")
	[ -n "$line" ] || fail "no event for who=$who seq=$seq"
	read -r _ _ epid etid epth ename eip <<<"$line"
	[ "$epid" = "$pid" ] || fail "who=$who seq=$seq: vpid $epid, program says $pid"
	[ "$etid" = "$tid" ] || fail "who=$who seq=$seq: vtid $etid, program says $tid"
	[ "$((16#$epth))" = "$pth" ] || fail "who=$who seq=$seq: pthread_id $epth, program says $pth"
	[ "$ename" = "$name" ] || fail "who=$who seq=$seq: procname '$ename', program says '$name'"
	size=$main_sz
	[ "$who" = 1 ] && size=$thr_sz
	ip=$((16#$eip)) lo=$(($fn))
	[ "$ip" -ge "$lo" ] && [ "$ip" -lt $((lo + size)) ] ||
		fail "who=$who seq=$seq: ip 0x$eip outside its function [$fn, +$size)"
done <"$TMP/out"
grep -q "^1 .* ctx-worker " "$TMP/got" || fail "the renamed thread's name: $(cat "$TMP/got")"
echo "5 events in 2 processes: ip, vtid, vpid, procname, pthread_id as the program says"

"$RT" record -q -o "$TMP/bad" --context vtid,nope -- true 2>"$TMP/bad.err" && fail "an unknown context was accepted"
grep -q "nope: unknown; known: ip, vtid" "$TMP/bad.err" || fail "unknown context: $(cat "$TMP/bad.err")"
exit 0
