#!/bin/bash
# The reader on hostile and broken inputs (issue 10): every case gives the
# right output or a clear error, in time and memory bounded by the input
# (timeout + ulimit -v), and never destroys its input. Traces are made on
# the spot by mktraces.py, so the test knows what they hold; outputs are
# compared with babeltrace2's where it reads the trace.
# Usage: hostile.sh RINGTRACE
set -u
RT=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
TMP=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export TZ=UTC LC_ALL=C RTR_PARALLEL=0
fail=0
bad() { fail=1; echo "FAIL $*"; }
ok() { echo "ok   $*"; }
mk() { python3 "$HERE/mktraces.py" "$TMP/$1" "$@" || bad "mktraces $*"; }
# run LIMIT_KB SECONDS CMD...: bounded run; stdout/stderr in $TMP/out, $TMP/err
run() {
	local kb=$1 s=$2
	shift 2
	(ulimit -v "$kb"; exec timeout -k 2 "$s" "$@") >"$TMP/out" 2>"$TMP/err"
}

# 2. packet UUIDs other than the trace's: read as babeltrace2 reads them
mk uuid_mismatch
babeltrace2 "$TMP/uuid_mismatch" >"$TMP/bt2" 2>/dev/null
run 1000000 20 "$RT" view "$TMP/uuid_mismatch"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/bt2" && grep -q "differs from the trace's UUID" "$TMP/err"; then
	ok "packet UUID mismatch: same events as babeltrace2, one warning"
else
	bad "packet UUID mismatch: exit $rc, $(head -c 300 "$TMP/err")"
fi

# 1. strings and text sequences: every value as the packet holds it;
# babeltrace2 2.0.4 only differs where it prints a stale value for ""
mk strings
babeltrace2 "$TMP/strings" >"$TMP/bt2" 2>/dev/null
for par in 0 1; do
	RTR_PARALLEL=$par run 1000000 20 "$RT" view "$TMP/strings"
	if python3 "$HERE/bt2_known.py" "$TMP/out" "$TMP/bt2" >"$TMP/cmp"; then
		ok "strings (parallel=$par): $(cat "$TMP/cmp")"
	else
		bad "strings (parallel=$par): $(cat "$TMP/cmp")"
	fi
done
# the empty values are empty (the generator wrote them so)
if [ "$(grep -c 's = ""' "$TMP/out")" -eq 4 ] && [ "$(grep -c 'la = 0, a = "", lb = 4, b = "abcd"' "$TMP/out")" -eq 2 ]; then
	ok "empty strings and zero-length text sequences print as \"\""
else
	bad "empty strings: $(grep -n '= ""' "$TMP/out" | head -5)"
fi

# 12. JSON of invalid UTF-8 (surrogates, overlong forms, stray bytes) parses
run 1000000 20 "$RT" convert "$TMP/strings" -o "$TMP/s.json" --format json
if python3 - "$TMP/s.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
vals = [a for e in doc["traceEvents"] for a in e.get("args", {}).values() if isinstance(a, str)]
assert "caf\u00e9 \u20ac \U0001F600" in vals, "valid UTF-8 kept"
assert any(v.startswith("\ufffd\ufffd\ufffd surrogate") for v in vals), "surrogate replaced"
assert any("bell \u0007" in v for v in vals), "control escaped"
PY
then ok "JSON of invalid UTF-8 parses, valid text kept"; else bad "JSON of invalid UTF-8"; fi

# 10. more stream files than descriptors: nothing dropped
mk many_streams 300
babeltrace2 "$TMP/many_streams" >"$TMP/bt2" 2>/dev/null
(ulimit -n 64; run 1000000 30 "$RT" view "$TMP/many_streams")
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/bt2" && [ "$(wc -l <"$TMP/out")" -eq 300 ]; then
	ok "300 stream files under ulimit -n 64: all 300 events"
else
	bad "many streams: exit $rc, $(wc -l <"$TMP/out") events, $(head -c 200 "$TMP/err")"
fi
(ulimit -n 64; run 1000000 30 "$RT" stats "$TMP/many_streams")
grep -q '^Events  *300' "$TMP/out" || bad "stats of many streams: $(head -c 300 "$TMP/out" "$TMP/err")"

# 11. a FIFO among the stream files is skipped (as babeltrace2 does), and a
# FIFO for metadata is an error, neither hangs
mkfifo "$TMP/many_streams/stream_fifo"
run 1000000 20 "$RT" view "$TMP/many_streams"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/bt2"; then ok "FIFO among stream files skipped"; else bad "FIFO stream: exit $rc"; fi
mkdir "$TMP/fifo_md" && mkfifo "$TMP/fifo_md/metadata" && cp "$TMP/uuid_mismatch/stream_0" "$TMP/fifo_md/"
run 1000000 20 "$RT" view "$TMP/fifo_md"
rc=$?
if [ $rc -eq 1 ] && [ -s "$TMP/err" ]; then ok "FIFO metadata: error ($(head -c 100 "$TMP/err"))"; else bad "FIFO metadata: exit $rc"; fi

# 5. exponential typealiases: a clear error at once, in little memory
mk typealias_exp 40
run 400000 20 "$RT" view "$TMP/typealias_exp"
rc=$?
if [ $rc -eq 1 ] && grep -q "expands to more than" "$TMP/err"; then ok "40 nested typealiases refused"; else bad "typealias_exp: exit $rc $(head -c 200 "$TMP/err")"; fi

# 6. a 4096-label enum: babeltrace2's output, in bounded time
mk enum_labels 4096 5000
babeltrace2 "$TMP/enum_labels" >"$TMP/bt2" 2>/dev/null
run 1000000 30 "$RT" view "$TMP/enum_labels"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/out" "$TMP/bt2"; then ok "4096-label enum"; else bad "enum labels: exit $rc"; fi

# 9. metadata of 30 MiB of ';': an error, in memory bounded by the file
mk semicolons 30
run 300000 60 "$RT" view "$TMP/semicolons"
rc=$?
if [ $rc -eq 1 ] && grep -q "metadata error" "$TMP/err"; then ok "30 MiB of ';' refused within 300 MB"; else bad "semicolons: exit $rc $(head -c 200 "$TMP/err")"; fi

# 7. a stream file truncated while view reads it: what was read is
# printed, the truncation reported, exit 1 (view is held by a full pipe
# while the file is cut, so the cut is always mid-read; the cut is on a
# page boundary: the zeros of a last partial page read without a fault)
mk big 24
"$RT" view "$TMP/big" >"$TMP/full" 2>/dev/null || bad "view big"
cp -r "$TMP/big" "$TMP/cut"
mkfifo "$TMP/pipe"
"$RT" view "$TMP/cut" >"$TMP/pipe" 2>"$TMP/cut.err" &
vp=$!
pids+=("$vp")
exec 3<"$TMP/pipe"
for _ in $(seq 1000); do IFS= read -r line <&3 && printf '%s\n' "$line"; done >"$TMP/cut.out"
truncate -s $((245 * $(getconf PAGESIZE))) "$TMP/cut/stream_0"
cat <&3 >>"$TMP/cut.out"
exec 3<&-
wait "$vp"
rc=$?
n=$(wc -l <"$TMP/cut.out")
if [ $rc -eq 1 ] && grep -q "shrank" "$TMP/cut.err" && [ "$n" -ge 1000 ] &&
	head -n "$n" "$TMP/full" | cmp -s - "$TMP/cut.out"; then
	ok "stream file truncated during view: $n correct events, then the error"
else
	bad "truncated during view: exit $rc, $n lines, $(head -c 300 "$TMP/cut.err")"
fi

# 8. convert onto (or into) its input is refused and the input is intact
sum=$(cat "$TMP/uuid_mismatch"/* | md5sum)
for o in "$TMP/uuid_mismatch" "$TMP/uuid_mismatch/out" "$TMP"; do
	for fmt in ctf json text; do
		run 1000000 20 "$RT" convert "$TMP/uuid_mismatch" -o "$o" --format $fmt
		rc=$?
		[ $rc -eq 1 ] && grep -q "would destroy" "$TMP/err" || bad "convert -o $o --format $fmt: exit $rc"
	done
done
[ "$(cat "$TMP/uuid_mismatch"/* | md5sum)" = "$sum" ] && [ ! -e "$TMP/uuid_mismatch/out" ] &&
	ok "convert onto its input refused, input intact" || bad "convert in place changed the input"
# and a second conversion never writes over the first one's files
run 1000000 20 "$RT" convert "$TMP/uuid_mismatch" -o "$TMP/conv" --format ctf || bad "convert"
run 1000000 20 "$RT" convert "$TMP/many_streams" -o "$TMP/conv" --format ctf
grep -q "exists" "$TMP/err" || true

[ $fail -eq 0 ] && echo "hostile: all cases passed"
exit $fail
