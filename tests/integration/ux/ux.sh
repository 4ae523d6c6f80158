#!/bin/bash
# What a user meets after recording (issue 12), checked on real programs:
#   json      ux_app (2 processes x 3 threads, nested begin/end pairs)
#             recorded by ringtrace, converted to Chrome Trace Event JSON:
#             json_rules.py (the format's rules, pids = the real ones, the
#             processes named, threads = the real ones and every pair a
#             nested slice when the trace has the vtid context, else CPU
#             tracks), json_check.py (every event babeltrace2 prints, once),
#             and headless Chromium parsing it with the same rules
#             (trace_check.html), which must also reject a broken document;
#   lttng     ux_app_cyg (-finstrument-functions) recorded by LTTng with
#             vpid/vtid/procname contexts: func_entry/func_exit as slices
#             on the real threads (json_rules.py, Chromium), and `stats`
#             per process and per thread against babeltrace2's text;
#   stats     per process on ringtrace's per-process traces, with discarded
#             events (small buffers) against what `record -v` counted per
#             process (and at least what babeltrace2 warns of);
#   loglevel  record --loglevel/--loglevel-only, and view/convert with the
#             same options, against babeltrace2's loglevel field.
# Usage: ux.sh MODE RINGTRACE UX_APP UX_APP_CYG
set -u
MODE=$1
RT=$(realpath "$2") APP=$(realpath "$3") CYG=$(realpath "$4")
HERE=$(dirname "$(realpath "$0")")
TMP=$(mktemp -d)
export TZ=UTC LC_ALL=C
started="" session="" chrome=""
cleanup() {
	[ -n "$chrome" ] && kill "$chrome" 2>/dev/null
	[ -n "$session" ] && lttng destroy "$session" >/dev/null 2>&1
	if [ -n "$started" ]; then # the session daemon this test started
		kill "$started" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$started" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$started" 2>/dev/null
		wait "$started" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
bad() { fail=1; echo "FAIL $*"; }

THREADS=3 ITERS=200
# ids.txt lines "pid PID NAME" and "tid PID TID" (printed by ux_app)
pids() { awk '$1 == "pid" { printf "%s%s", s, $2; s = "," }' "$1"; }
tids() { awk '$1 == "tid" { printf "%s%s:%s", s, $2, $3; s = "," }' "$1"; }

# Chromium, headless, loads trace_check.html on JSON file $1; prints the
# page's RESULT line.
browser() {
	local page=$TMP/page
	mkdir -p "$page"
	cp "$HERE/trace_check.html" "$page/"
	python3 -c 'import json, sys
t = open(sys.argv[1], encoding="utf-8").read()
open(sys.argv[2], "w").write("window.TRACE_TEXT = " + json.dumps(t) + ";\n")' "$1" "$page/trace_data.js"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--no-first-run --user-data-dir="$TMP/chromium" --dump-dom \
		"file://$page/trace_check.html" >"$TMP/dom" 2>"$TMP/chromium.err" &
	chrome=$!
	wait $chrome
	chrome=""
	sed -n 's/.*<pre id="out">\(RESULT [^<]*\)<.*/\1/p' "$TMP/dom"
}

need_chromium() {
	command -v chromium >/dev/null ||
		{ echo "FAIL chromium is not installed: run scripts/deps.sh (Debian's chromium)"; exit 1; }
}

case $MODE in
json)
	need_chromium
	ctx=()
	if "$RT" record --help 2>&1 | grep -q vtid; then
		ctx=(--context vtid)
	else
		echo "NOTE: this ringtrace record has no --context vtid: checking the CPU-track fallback"
	fi
	"$RT" record -q "${ctx[@]}" -o "$TMP/rec" -- "$APP" $THREADS $ITERS 1 >"$TMP/ids.txt" ||
		{ echo "FAIL record"; exit 1; }
	"$RT" convert "$TMP/rec" -o "$TMP/out.json" --format json || { echo "FAIL convert"; exit 1; }
	nslices=$((2 * THREADS * ITERS * 4))
	if [ ${#ctx[@]} -gt 0 ]; then
		python3 "$HERE/json_rules.py" "$TMP/out.json" --pids "$(pids "$TMP/ids.txt")" --name ux_app \
			--tids "$(tids "$TMP/ids.txt")" --slices $nslices --max-depth 4 || bad "rules"
		want="OK processes=2 threads=$((2 * THREADS)) slices=$nslices depth=4"
		# the ends without a begin stay instants
		n=$(grep -c '"name":"ux:orphan_end","cat":"ux","ph":"i"' "$TMP/out.json")
		[ "$n" -eq $((2 * THREADS)) ] || bad "ux:orphan_end instants: $n, want $((2 * THREADS))"
	else
		python3 "$HERE/json_rules.py" "$TMP/out.json" --pids "$(pids "$TMP/ids.txt")" --name ux_app \
			--cpu-tracks --slices 0 || bad "rules"
		want="OK processes=2 threads=[0-9]+ slices=0 depth=0"
	fi
	babeltrace2 --clock-seconds "$TMP/rec" >"$TMP/ref.txt" 2>"$TMP/ref.err" || bad "babeltrace2"
	python3 "$HERE/../reader/json_check.py" "$TMP/out.json" "$TMP/ref.txt" "$TMP/ref.err" ||
		bad "json_check against babeltrace2"
	r=$(browser "$TMP/out.json")
	echo "chromium: $r"
	[[ "$r" =~ ^RESULT\ $want\  ]] || bad "chromium: '$r', want '$want ...'"
	# the page can fail: a slice overlapping its neighbour without nesting
	python3 - "$TMP/out.json" "$TMP/broken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = [x for x in d["traceEvents"] if x["ph"] != "M"][0]
d["traceEvents"] += [dict(e, ph="X", ts=1000, dur=10, name="a"), dict(e, ph="X", ts=1005, dur=10, name="b")]
json.dump(d, open(sys.argv[2], "w"))
PY
	r=$(browser "$TMP/broken.json")
	[[ "$r" =~ ^RESULT\ FAIL.*overlaps ]] || bad "chromium accepted overlapping slices: '$r'"
	python3 "$HERE/json_rules.py" "$TMP/broken.json" >/dev/null 2>&1 && bad "json_rules accepted overlapping slices"
	;;
lttng)
	need_chromium
	command -v lttng >/dev/null && command -v lttng-sessiond >/dev/null ||
		{ echo "FAIL lttng-tools missing (scripts/deps.sh installs it)"; exit 1; }
	if ! lttng list >/dev/null 2>&1; then
		lttng-sessiond >/dev/null 2>&1 &
		started=$!
		for _ in $(seq 100); do lttng list >/dev/null 2>&1 && break; sleep 0.1; done
		lttng list >/dev/null 2>&1 || { echo "FAIL cannot start lttng-sessiond"; exit 1; }
	fi
	session=rtrux$$
	lttng create "$session" --output="$TMP/lt" >/dev/null &&
		lttng enable-channel -u -s "$session" c >/dev/null &&
		lttng enable-event -u -s "$session" -c c 'lttng_ust_cyg_profile:*' >/dev/null &&
		lttng add-context -u -s "$session" -c c -t vpid -t vtid -t procname >/dev/null &&
		lttng start "$session" >/dev/null || { echo "FAIL lttng session"; exit 1; }
	LD_PRELOAD="liblttng-ust-fork.so liblttng-ust-cyg-profile.so" "$CYG" $THREADS $ITERS 1 \
		>"$TMP/ids.txt" || bad "ux_app_cyg"
	lttng stop "$session" >/dev/null
	lttng destroy "$session" >/dev/null
	session=""
	babeltrace2 "$TMP/lt" >"$TMP/bt2.txt" 2>"$TMP/bt2.err" || { echo "FAIL babeltrace2"; exit 1; }
	grep -q discarded "$TMP/bt2.err" && { echo "FAIL LTTng discarded events: a bigger buffer is needed"; exit 1; }
	nent=$(grep -c 'func_entry:' "$TMP/bt2.txt")
	[ "$nent" -gt $((THREADS * ITERS)) ] || bad "only $nent func_entry events"
	"$RT" convert "$TMP/lt" -o "$TMP/lt.json" --format json || { echo "FAIL convert"; exit 1; }
	python3 "$HERE/json_rules.py" "$TMP/lt.json" --pids "$(pids "$TMP/ids.txt")" --name ux_app_cyg \
		--tids "$(tids "$TMP/ids.txt")" --slices "$nent" || bad "rules"
	babeltrace2 --clock-seconds "$TMP/lt" >"$TMP/ref.txt" 2>"$TMP/ref.err"
	python3 "$HERE/../reader/json_check.py" "$TMP/lt.json" "$TMP/ref.txt" "$TMP/ref.err" ||
		bad "json_check against babeltrace2"
	r=$(browser "$TMP/lt.json")
	echo "chromium: $r"
	[[ "$r" =~ ^RESULT\ OK\ processes=2\ threads=[0-9]+\ slices=$nent\  ]] || bad "chromium: '$r'"
	"$RT" stats "$TMP/lt" >"$TMP/stats.txt" 2>/dev/null || bad "stats"
	python3 "$HERE/stats_check.py" "$TMP/stats.txt" "$TMP/bt2.txt" --unknown-lost --threads || bad "stats per thread"
	;;
stats)
	# small buffers and a busy program: events are discarded; per thread
	# too when record can add the vtid context
	ctx=() thr=()
	if "$RT" record --help 2>&1 | grep -q vtid; then
		ctx=(--context vtid) thr=(--threads)
	else
		echo "NOTE: this ringtrace record has no --context vtid: per process only"
	fi
	"$RT" record -v "${ctx[@]}" --subbuf-size 4k --num-subbuf 2 -o "$TMP/rec" -- "$APP" 2 5000 1 \
		>"$TMP/ids.txt" 2>"$TMP/rec.err" || { echo "FAIL record"; exit 1; }
	# "process PID (NAME) finished: N events, M lost, P packets"
	counted=$(sed -n 's/.*process \([0-9]*\) ([^)]*) finished: [0-9]* events, \([0-9]*\) lost.*/\1:\2/p' \
		"$TMP/rec.err" | paste -sd,)
	[ -n "$counted" ] || bad "record -v said nothing of its processes: $(head -c 300 "$TMP/rec.err")"
	lost="" total=0
	while read -r m; do
		d=$(dirname "$m")
		babeltrace2 "$d" >"$TMP/one.txt" 2>"$TMP/one.err" || bad "babeltrace2 $d"
		pid=$(sed -n '1s/^[^)]*) [^:]*:[^:]*:(\([0-9]*\)).*/\1/p' "$TMP/one.txt")
		n=$(grep -o 'discarded [0-9]* events' "$TMP/one.err" | awk '{ s += $2 } END { print s + 0 }')
		lost="$lost${lost:+,}$pid:$n"
		total=$((total + n))
	done < <(find "$TMP/rec" -name metadata)
	[ "$total" -gt 0 ] || echo "NOTE: no event was discarded this time"
	babeltrace2 "$TMP/rec" >"$TMP/bt2.txt" 2>/dev/null
	"$RT" stats "$TMP/rec" >"$TMP/stats.txt" 2>/dev/null || bad "stats"
	python3 "$HERE/stats_check.py" "$TMP/stats.txt" "$TMP/bt2.txt" --lost "$counted" --lost-min "$lost" "${thr[@]}" ||
		bad "stats per process"
	[ "$(sort <<<"$(pids "$TMP/ids.txt" | tr , '\n')")" = "$(awk '/^Events per process/ { on = 1; next }
		on && !NF { exit } on && $1 != "EVENTS" { print $4 }' "$TMP/stats.txt" | sort)" ] ||
		bad "the processes of stats are not the pids the program printed"
	;;
loglevel)
	"$RT" record -q -o "$TMP/all" -- "$APP" 2 50 >/dev/null || { echo "FAIL record"; exit 1; }
	babeltrace2 --fields loglevel "$TMP/all" >"$TMP/all.txt" || { echo "FAIL babeltrace2"; exit 1; }
	# NAME -> count among the events of levels the selection keeps, computed
	# from babeltrace2's "TRACE_X (N)" field (none: 13, LTTng's default)
	expect() { # upto|only LEVEL-NUMBER FILE
		awk -v mode="$1" -v lv="$2" '{
			l = 13
			if (match($0, /\) TRACE_[A-Z_]+ \(([0-9]+)\) /)) {
				s = substr($0, RSTART, RLENGTH); gsub(/[^0-9 ]/, "", s); split(s, a, " "); l = a[1]
			}
			if ((mode == "upto" && l <= lv) || (mode == "only" && l == lv)) {
				for (i = 1; i <= NF; i++) if ($i ~ /^ux:[a-z_]+:$/) n[$i]++
			}
		} END { for (k in n) print k, n[k] }' "$3" | sort
	}
	counts() { # FILE: NAME -> count of babeltrace2's (or view's) text
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^ux:[a-z_]+:$/) n[$i]++ }
			END { for (k in n) print k, n[k] }' "$1" | sort
	}
	for sel in "upto TRACE_WARNING 4" "only TRACE_INFO 6" "upto TRACE_DEBUG_FUNCTION 12" \
		"only TRACE_DEBUG_LINE 13" "upto debug 14" "only EMERG 0"; do
		read -r mode name num <<<"$sel"
		opt=--loglevel
		[ "$mode" = only ] && opt=--loglevel-only
		want=$(expect "$mode" "$num" "$TMP/all.txt")
		[ -n "$want" ] || bad "$opt $name selects nothing in the reference"
		# record with the selection: only those events are enabled
		rm -rf "$TMP/sel"
		"$RT" record -q "$opt" "$name" -o "$TMP/sel" -- "$APP" 2 50 >/dev/null || bad "record $opt $name"
		babeltrace2 "$TMP/sel" >"$TMP/sel.txt" 2>/dev/null
		got=$(counts "$TMP/sel.txt")
		[ "$got" = "$want" ] || bad "record $opt $name: $(echo $got) / want $(echo $want)"
		# view and convert of the full trace with the selection
		"$RT" view "$opt=$name" "$TMP/all" >"$TMP/view.txt" || bad "view $opt $name"
		got=$(counts "$TMP/view.txt")
		[ "$got" = "$want" ] || bad "view $opt $name: $(echo $got) / want $(echo $want)"
		rm -rf "$TMP/conv"
		"$RT" convert "$opt" "$name" "$TMP/all" -o "$TMP/conv" || bad "convert $opt $name"
		babeltrace2 "$TMP/conv" >"$TMP/conv.txt" 2>/dev/null
		got=$(counts "$TMP/conv.txt")
		[ "$got" = "$want" ] || bad "convert $opt $name: $(echo $got) / want $(echo $want)"
		echo "$opt $name: $(echo $want)"
	done
	# a wrong level name is refused with the list of names
	"$RT" record --loglevel TRACE_LOUD -- "$APP" 1 1 >/dev/null 2>"$TMP/err" && bad "record took TRACE_LOUD"
	grep -q "unknown log level 'TRACE_LOUD'.*TRACE_EMERG" "$TMP/err" || bad "record's message: $(cat "$TMP/err")"
	"$RT" view --loglevel-only LOUD "$TMP/all" >/dev/null 2>"$TMP/err" && bad "view took LOUD"
	grep -q "unknown log level 'LOUD'" "$TMP/err" || bad "view's message: $(cat "$TMP/err")"
	;;
*)
	echo "unknown mode $MODE"
	exit 2
	;;
esac
[ $fail -eq 0 ] && echo "ux $MODE: ok"
exit $fail
