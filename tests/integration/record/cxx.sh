#!/bin/bash
# A C++ program traced with ringtrace (probes in C, tracepoints called from
# C++ threads): every event it logged is in the trace, read back with
# babeltrace2 (no warning) and with ringtrace view (same bytes).
# Usage: cxx.sh RINGTRACE REC_CXX
set -u
RT=$1 APP=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
THREADS=6 N=3000

"$RT" record -q -o "$TMP/trace" -- "$APP" $THREADS $N "$TMP/side" || fail "record exited $?"
babeltrace2 "$TMP/trace" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || fail "babeltrace2: $(head -c 300 "$TMP/bt2.err")"
[ -s "$TMP/bt2.err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/bt2.err")"
"$RT" view "$TMP/trace" >"$TMP/view.txt" 2>"$TMP/view.err" || fail "view: $(cat "$TMP/view.err")"
cmp -s "$TMP/bt2.txt" "$TMP/view.txt" || fail "ringtrace view differs from babeltrace2"

# what babeltrace2 read, in the side file's format
sed -n 's/.* cxx:item: { cpu_id = [0-9]* }, { worker = \([0-9]*\), seq = \([0-9]*\), name = "\([^"]*\)", delta = \(-\?[0-9]*\) }$/\1 \2 \3 \4/p' \
	"$TMP/bt2.txt" | sort >"$TMP/got"
grep -v '^total ' "$TMP/side" | sort >"$TMP/want"
[ "$(wc -l <"$TMP/want")" -eq $((THREADS * N)) ] || fail "the program logged $(wc -l <"$TMP/want") events"
cmp -s "$TMP/got" "$TMP/want" || fail "events differ: $(diff "$TMP/want" "$TMP/got" | head -5)"
total=$(sed -n 's/.* cxx:done: { cpu_id = [0-9]* }, { total = \([0-9]*\) }$/\1/p' "$TMP/bt2.txt")
[ "$total" = "$(sed -n 's/^total //p' "$TMP/side")" ] || fail "done event: '$total'"
# per-thread order kept: seq increases within each worker in trace order
awk '{ if ($1 in last && $2 <= last[$1]) bad++; last[$1] = $2 } END { exit bad > 0 }' \
	< <(sed -n 's/.* worker = \([0-9]*\), seq = \([0-9]*\),.*/\1 \2/p' "$TMP/bt2.txt") ||
	fail "per-thread order broken"
echo "cxx: $((THREADS * N)) events from C++ threads read back by babeltrace2 and ringtrace view"
