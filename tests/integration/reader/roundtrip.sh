#!/bin/bash
# Round trip: `ringtrace convert --format ctf` of every corpus trace that
# babeltrace2 reads must print the same text as the original, through
# babeltrace2 (when installed) and through ringtrace. Also checks that a
# filtered/trimmed conversion keeps exactly the selected events.
# Usage: roundtrip.sh RINGTRACE REPO_ROOT
set -u
. "$(dirname "$(realpath "$0")")/corpus-common.sh"
BT2=$(command -v babeltrace2 || true)
VLIMIT=$(reader_vlimit 2097152)
pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'PASS %-60s %s\n' "$1" "$2"; }
bad() { fail=$((fail + 1)); printf 'FAIL %-60s %s\n' "$1" "$2"; }

[ -d "$DATA/ctf-corpus" ] || { echo "no corpus at $DATA"; exit 1; }
for dir in "$DATA"/ctf-corpus/*/ "$DATA"/lttng-ust/*/ "$DATA"/barectf/*/; do
	[ -d "$dir/trace" ] || continue
	name=$(basename "$dir")
	st=0
	[ -f "$dir/expected-exit-status" ] && st=$(cat "$dir/expected-exit-status")
	[ "$st" = 0 ] || continue
	grep -q "^$name	" "$EXC" && continue
	cd "$dir" || continue
	if [ -f expected.txt.gz ]; then gzip -dc expected.txt.gz >"$TMP/exp"; else cp expected.txt "$TMP/exp"; fi
	rm -rf "$TMP/out"
	if ! ( ulimit -v $VLIMIT; timeout 60 "$BIN" convert trace -o "$TMP/out" --format ctf ) 2>"$TMP/err"; then
		bad "$name" "convert failed: $(head -c 200 "$TMP/err")"; cd - >/dev/null; continue
	fi
	if [ ! -s "$TMP/exp" ]; then ok "$name" "empty trace"; cd - >/dev/null; continue; fi
	timeout 60 "$BIN" view "$TMP/out" >"$TMP/rt" 2>/dev/null
	if ! cmp -s "$TMP/rt" "$TMP/exp"; then bad "$name" "ringtrace view of the copy differs"; cd - >/dev/null; continue; fi
	if [ -n "$BT2" ]; then
		timeout 120 "$BT2" "$TMP/out" >"$TMP/bt" 2>/dev/null
		if ! cmp -s "$TMP/bt" "$TMP/exp"; then bad "$name" "babeltrace2 view of the copy differs"; cd - >/dev/null; continue; fi
	fi
	ok "$name" "same text through ${BT2:+babeltrace2 and }ringtrace"
	cd - >/dev/null
done

# filter + trim on a multi-packet trace: the copy holds exactly the lines
# of the original that match
d=$DATA/lttng-ust/two-cpus-contexts
if [ -d "$d" ]; then
	"$BIN" view "$d/trace" >"$TMP/all"
	b=$(sed -n '100p' "$TMP/all" | cut -c2-19) e=$(sed -n '400p' "$TMP/all" | cut -c2-19)
	rm -rf "$TMP/cut"
	"$BIN" convert "$d/trace" -o "$TMP/cut" --format ctf --clock-gmt --begin "$b" --end "$e" -e 'ctftest:*'
	"$BIN" view "$TMP/cut" >"$TMP/cutv"
	sed -n '100,400p' "$TMP/all" | grep 'ctftest:' | sed 's/^\(.\{21\}\)([^)]*)/\1/' >"$TMP/want"
	sed 's/^\(.\{21\}\)([^)]*)/\1/' "$TMP/cutv" >"$TMP/got"
	if [ -s "$TMP/want" ] && cmp -s "$TMP/want" "$TMP/got"; then ok trim-filter "$(wc -l <"$TMP/got") events kept"
	else bad trim-filter "trimmed copy differs ($(wc -l <"$TMP/got") vs $(wc -l <"$TMP/want") lines)"; fi
	if [ -n "$BT2" ] && ! "$BT2" "$TMP/cut" 2>/dev/null | sed 's/^\(.\{21\}\)([^)]*)/\1/' | cmp -s - "$TMP/want"; then
		bad trim-filter-bt2 "babeltrace2 reads the trimmed copy differently"
	fi
fi
echo "roundtrip: $pass passed, $fail failed"
[ $fail -eq 0 ]
