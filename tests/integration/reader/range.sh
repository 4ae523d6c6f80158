#!/bin/bash
# `ringtrace view --begin/--end` (which seeks with the packet index when the
# trace has one) prints what babeltrace2 prints for the same window, in the
# three time forms (HH:MM:SS.NS, 'YYYY-MM-DD HH:MM:SS.NS', SEC.NS), and with
# -e. Windows are cut at timestamps babeltrace2 printed, on a many-packet
# indexed trace recorded by `ringtrace record` and on the LTTng-UST traces
# of the corpus.
#
# The reference is babeltrace2's own output for the window. babeltrace2
# 2.0.4 sometimes prints a stale string for an empty one in the first event
# of a trimmed window (the bug documented for tc-many-threads in
# corpus-exceptions.tsv); where its window output differs from ours, the
# reference becomes the same window cut out of babeltrace2's full output
# (first delta "+?.?????????", as babeltrace2 prints it), and such windows
# are counted.
# Usage: range.sh RINGTRACE REC_APP REPO_ROOT
set -u
RT=$(realpath "$1") APP=$(realpath "$2") ROOT=$(realpath "$3")
DATA=$ROOT/../shared/testdata
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC LC_ALL=C
pass=0 fail=0 nonempty=0 bt2bug=0
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# babeltrace2's full output of TRACE with OPTS cut to the lines whose
# seconds stamp is in [KB, KE], the first delta unknown, lines whose event
# name is not NAME (if given) dropped.
cut_full() { # TRACE KB KE NAME OPTS...
	local tr=$1 kb=$2 ke=$3 name=$4
	shift 4
	babeltrace2 --clock-seconds "$tr" 2>/dev/null | sed 's/^\[\([^]]*\)\].*/\1/' >"$TMP/keys"
	babeltrace2 "$@" "$tr" 2>/dev/null >"$TMP/full"
	paste "$TMP/keys" "$TMP/full" |
		awk -F '\t' -v kb="$kb" -v ke="$ke" -v n="$name" '
			function le(a, b) { a = a ""; b = b ""; return length(a) < length(b) || (length(a) == length(b) && a <= b) } # as strings: ns exceed a double
			{ l = substr($0, length($1) + 2) }
			le(kb, $1) && le($1, ke) && (n == "" || index(l, " " n ": ")) {
				if (!seen++) sub(/\(\+[0-9]+\.[0-9]+\)/, "(+?.?????????)", l)
				print l
			}'
}

# compare TRACE BEGIN END KEY_BEGIN KEY_END NAME OPTS...
compare() {
	local tr=$1 b=$2 e=$3 kb=$4 ke=$5 name=$6
	shift 6
	local ev=()
	[ -n "$name" ] && ev=(-e "$name")
	"$RT" view "$@" "${ev[@]}" --begin "$b" --end "$e" "$tr" >"$TMP/rt" 2>"$TMP/rt.err" ||
		{ bad "$tr [$b, $e] $*: ringtrace view failed: $(head -c 200 "$TMP/rt.err")"; return; }
	if [ -z "$name" ]; then
		babeltrace2 "$@" --begin "$b" --end "$e" "$tr" >"$TMP/ref" 2>"$TMP/bt2.err" ||
			{ bad "$tr [$b, $e] $*: babeltrace2 failed: $(head -c 200 "$TMP/bt2.err")"; return; }
		if ! cmp -s "$TMP/ref" "$TMP/rt"; then
			cut_full "$tr" "$kb" "$ke" "" "$@" >"$TMP/ref"
			cmp -s "$TMP/ref" "$TMP/rt" && bt2bug=$((bt2bug + 1))
		fi
	else
		cut_full "$tr" "$kb" "$ke" "$name" "$@" >"$TMP/ref"
	fi
	if cmp -s "$TMP/ref" "$TMP/rt"; then
		pass=$((pass + 1))
		[ -s "$TMP/ref" ] && nonempty=$((nonempty + 1))
	else
		bad "$tr [$b, $e] $* ${ev[*]}: output differs ($(wc -l <"$TMP/ref") vs $(wc -l <"$TMP/rt") lines)"
		diff "$TMP/ref" "$TMP/rt" | head -4 | cut -c1-200
	fi
}

windows() { # TRACE: windows at 10/35/60/90% of its events, each time form
	local tr=$1 n
	babeltrace2 --clock-gmt "$tr" >"$TMP/g" 2>/dev/null
	babeltrace2 --clock-gmt --clock-date "$tr" >"$TMP/d" 2>/dev/null
	babeltrace2 --clock-seconds "$tr" >"$TMP/s" 2>/dev/null
	n=$(wc -l <"$TMP/g")
	[ "$n" -ge 4 ] || return 0
	local l1=$((n / 10 + 1)) l2=$((n * 35 / 100 + 1)) l3=$((n * 60 / 100 + 1)) l4=$((n * 9 / 10))
	st() { sed -n "$2{s/^\[\([^]]*\)\].*/\1/p;q}" "$TMP/$1"; }
	local s1 s2 s3 s4 ev
	s1=$(st s $l1) s2=$(st s $l2) s3=$(st s $l3) s4=$(st s $l4)
	compare "$tr" "$(st g $l1)" "$(st g $l2)" "$s1" "$s2" "" --clock-gmt
	compare "$tr" "$(st g $l3)" "$(st g $l4)" "$s3" "$s4" "" --clock-gmt
	compare "$tr" "$(st g $l2)" "$(st g $l2)" "$s2" "$s2" "" --clock-gmt
	compare "$tr" "$(st d $l1)" "$(st d $l3)" "$s1" "$s3" "" --clock-gmt --clock-date
	compare "$tr" "$s2" "$s4" "$s2" "$s4" "" --clock-seconds
	compare "$tr" "$(st s 1)" "$s1" "$(st s 1)" "$s1" "" --clock-gmt
	ev=$(sed -n "${l2}s/.* \([a-z_0-9]*:[a-z_0-9]*\): .*/\1/p" "$TMP/g")
	[ -n "$ev" ] && compare "$tr" "$s1" "$s4" "$s1" "$s4" "$ev" --clock-gmt --no-delta
}

# 1. a trace of many small packets with an index, recorded by us
"$RT" record -q -o "$TMP/rec" --subbuf-size 4k --num-subbuf 64 -- "$APP" threads 4 20000 ||
	bad "record failed"
tr=$(dirname "$(find "$TMP/rec" -name metadata | head -n1)")
[ -n "$(find "$tr/index" -name '*.idx' 2>/dev/null)" ] || bad "recorded trace has no index"
windows "$tr"
# 2. the LTTng-UST traces of the corpus (LTTng's own index files)
for d in "$DATA"/lttng-ust/*/; do
	[ -d "$d/trace" ] && windows "$d/trace"
done
echo "range: $pass windows identical ($nonempty not empty; $bt2bug where babeltrace2's" \
	"trimmed output itself differs from its full output), $fail failed"
[ $fail -eq 0 ] && [ $nonempty -ge 40 ]
