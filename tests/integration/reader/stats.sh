#!/bin/bash
# `ringtrace stats` on the corpus: it decodes every event without printing
# (its own fast path), so its event count must be the number of lines
# babeltrace2 printed, on one thread and on several, and a trace that
# babeltrace2 cannot read must give a clean error.
# Usage: stats.sh RINGTRACE REPO_ROOT
set -u
. "$(dirname "$(realpath "$0")")/corpus-common.sh"
VLIMIT=$(reader_vlimit 1048576)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL %-60s %s\n' "$1" "$2"; }

[ -d "$DATA/ctf-corpus" ] || { echo "no corpus at $DATA"; exit 1; }
for dir in "$DATA"/ctf-corpus/*/ "$DATA"/lttng-ust/*/ "$DATA"/barectf/*/; do
	[ -d "$dir/trace" ] || continue
	name=$(basename "$dir")
	grep -q "^$name	" "$EXC" && continue
	st=0
	[ -f "$dir/expected-exit-status" ] && st=$(cat "$dir/expected-exit-status")
	for j in 1 2; do
		( cd "$dir" && ulimit -v $VLIMIT && exec timeout 30 "$BIN" stats -j $j --clock-gmt trace ) \
			>"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ "$st" != 0 ]; then
			# babeltrace2 fails: a clean error (bt2 may have printed events
			# before failing, stats reports nothing but the error)
			if [ $rc -eq 1 ] && grep -q 'error:' "$TMP/err"; then ok
			else bad "$name" "-j $j: expected a clean error, got exit $rc"; fi
			continue
		fi
		if [ $rc -ne 0 ]; then
			bad "$name" "-j $j: exit $rc: $(head -c 200 "$TMP/err")"
			continue
		fi
		if [ -f "$dir/expected.txt.gz" ]; then n=$(gzip -dc "$dir/expected.txt.gz" | wc -l)
		else n=$(wc -l <"$dir/expected.txt"); fi
		got=$(awk '$1 == "Events" && $2 ~ /^[0-9]+$/ { print $2 }' "$TMP/out")
		if [ "$got" = "$n" ]; then ok
		else bad "$name" "-j $j: $got events, babeltrace2 printed $n"; fi
	done
done
echo "stats: $pass passed, $fail failed"
[ $fail -eq 0 ]
