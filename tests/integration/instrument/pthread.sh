#!/bin/bash
# record --preload pthread on Debian's sort --parallel=2 (its merge threads
# lock mutexes and wait on condition variables): the output is unchanged,
# events come from at least two threads, and per thread the events obey
# the mutex protocol: a lock_req is followed (in that thread) by its
# lock_acq on the same mutex, status 0; per (thread, mutex) the holding
# count (lock_acq, trylock 0 and cond_wait_acq take; unlock and
# cond_wait_req give back) never goes below zero and ends at zero; every
# cond_wait_req is followed by its cond_wait_acq (one unlock of a mutex
# locked before the session enabled the events is allowed). A lost or misattributed
# event breaks one of these. (The number of calls depends on the threads'
# timing, so it is not compared with another run.) babeltrace2 prints what
# `ringtrace view` prints.
# Usage: pthread.sh RINGTRACE
set -u
RT=$1
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LC_ALL=C
seq 1 300000 | awk '{ printf "%d line\n", ($1 * 7919) % 300007 }' >"$TMP/big.txt"
sort --parallel=2 -S 64M "$TMP/big.txt" >"$TMP/plain"
"$RT" record -q -o "$TMP/t" --preload pthread --context vtid -- sort --parallel=2 -S 64M "$TMP/big.txt" \
	>"$TMP/out" 2>"$TMP/err" &
rp=$!
PIDS+=($rp)
wait $rp || fail "record: $(cat "$TMP/err")"
cmp -s "$TMP/plain" "$TMP/out" || fail "sort's output changed"
babeltrace2 "$TMP/t" >"$TMP/bt" 2>"$TMP/bt.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt.err")"
"$RT" view "$TMP/t" | cmp -s - "$TMP/bt" || fail "ringtrace view differs from babeltrace2"
# "vtid event mutex status" (cond events: "vtid event cond mutex status")
sed -n 's/.* lttng_ust_pthread:\([a-z_]*\): { cpu_id = [0-9]* }, { vtid = \([0-9]*\) }, { \(.*\) }$/\2 \1 \3/p' "$TMP/bt" |
	sed 's/[a-z]* = //g; s/,//g' >"$TMP/ev"
[ "$(wc -l <"$TMP/ev")" -eq "$(grep -c lttng_ust_pthread "$TMP/bt")" ] || fail "events not parsed: $(head -3 "$TMP/bt")"
nt=$(awk '{ print $1 }' "$TMP/ev" | sort -u | wc -l)
[ "$nt" -ge 2 ] || fail "events of $nt thread(s); sort --parallel=2 has 2"
awk '
function take(t, m) { h[t, m]++; seen[t, m] = 1 }
function give(t, m, what) {
	if (h[t, m] == 0 && !((t, m) in seen)) { early++; seen[t, m] = 1; return } # held before recording began
	seen[t, m] = 1
	if (--h[t, m] < 0) { print what " of " m " not held by thread " t " (line " NR ")"; bad = 1; exit } }
{ t = $1; e = $2 }
pend[t] != "" && e != pend_e[t] { print "thread " t ": " pend[t] " not followed by its completion but by " e " (line " NR ")"; bad = 1; exit }
e == "pthread_mutex_lock_req" { pend[t] = "lock_req " $3; pend_e[t] = "pthread_mutex_lock_acq"; pend_m[t] = $3; next }
e == "pthread_cond_wait_req" || e == "pthread_cond_timedwait_req" {
	give(t, $4, "wait"); pend[t] = e " " $3; pend_e[t] = (e == "pthread_cond_wait_req" ? "pthread_cond_wait_acq" : "pthread_cond_timedwait_acq"); pend_m[t] = $3; next }
e == "pthread_mutex_lock_acq" { if ($3 != pend_m[t] || $4 != 0) { print "lock_acq " $3 " status " $4 " after " pend[t]; bad = 1; exit } pend[t] = ""; take(t, $3); n++; next }
e == "pthread_cond_wait_acq" || e == "pthread_cond_timedwait_acq" { if ($3 != pend_m[t]) { print e " of another cond"; bad = 1; exit } pend[t] = ""; take(t, $4); w++; next }
e == "pthread_mutex_trylock" { if ($4 == 0) take(t, $3); next }
e == "pthread_mutex_unlock" { give(t, $3, "unlock"); next }
END { if (bad) exit 1
      for (k in h) if (h[k]) { split(k, a, SUBSEP); print "thread " a[1] " ends holding " a[2] " (" h[k] ")"; exit 1 }
      for (t in pend) if (pend[t] != "") { print "thread " t " ends in " pend[t]; exit 1 }
      if (n < 10) { print "only " n " locks"; exit 1 }
      if (early > 1) { print early " unlocks of mutexes held before recording"; exit 1 }
      print n " locks, " w " condition waits, balanced per thread and mutex (" early + 0 " unlock of a mutex locked before the session bound)" }' "$TMP/ev" >"$TMP/check" ||
	fail "$(cat "$TMP/check")"
echo "$nt threads: $(cat "$TMP/check")"
exit 0
