#!/bin/bash
# `ringtrace convert --format json` (Chrome Trace Event format, opened by the
# Perfetto UI) checked against babeltrace2's text of the same traces: the
# LTTng-UST corpus traces and a multi-threaded trace recorded by us.
# Usage: json.sh RINGTRACE REC_APP REPO_ROOT
set -u
RT=$(realpath "$1") APP=$(realpath "$2") ROOT=$(realpath "$3")
HERE=$(dirname "$(realpath "$0")")
DATA=$ROOT/../shared/testdata
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC LC_ALL=C
fail=0 n=0
check() {
	n=$((n + 1))
	babeltrace2 --clock-seconds "$1" >"$TMP/ref.txt" 2>"$TMP/ref.err" || { echo "FAIL bt2 $1"; fail=1; return; }
	"$RT" convert "$1" -o "$TMP/out.json" --format json 2>"$TMP/err" ||
		{ echo "FAIL convert $1: $(cat "$TMP/err")"; fail=1; return; }
	python3 "$HERE/json_check.py" "$TMP/out.json" "$TMP/ref.txt" "$TMP/ref.err" || { echo "FAIL $1"; fail=1; }
}
"$RT" record -q -o "$TMP/rec" -- "$APP" threads 3 2000 || { echo "FAIL record"; exit 1; }
check "$(dirname "$(find "$TMP/rec" -name metadata | head -n1)")"
for d in "$DATA"/lttng-ust/*/; do
	[ -d "$d/trace" ] && check "$d/trace"
done
echo "json: $n traces checked"
[ $fail -eq 0 ] && [ $n -ge 5 ]
