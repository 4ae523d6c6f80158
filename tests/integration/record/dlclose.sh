#!/bin/bash
# A program not linked with libringtrace traces through a dlopen()ed
# provider library, unloads it while its threads live on, and must exit 0
# with every event in the trace (read back by babeltrace2).
# Usage: dlclose.sh RINGTRACE HOST PLUGIN
set -u
RT=$1 HOST=$2 PLUG=$3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
THREADS=4 N=3000
for round in 1 2 3 4 5; do
	"$RT" record -o "$TMP/t$round" -- "$HOST" "$PLUG" $THREADS $N 2>"$TMP/err"
	rc=$?
	[ $rc -eq 0 ] || { echo "FAIL round $round: exit $rc: $(cat "$TMP/err")"; exit 1; }
	got=$(babeltrace2 "$TMP/t$round" 2>"$TMP/bt2.err" | grep -c ' rec:tick: ')
	[ -s "$TMP/bt2.err" ] && { echo "FAIL babeltrace2: $(head -c 300 "$TMP/bt2.err")"; exit 1; }
	[ "$got" -eq $(((THREADS + 1) * N)) ] ||
		{ echo "FAIL round $round: $got events, expected $(((THREADS + 1) * N))"; exit 1; }
done
echo "dlclose: 5 runs exited 0 with all $(((THREADS + 1) * N)) events each"
