#!/bin/bash
# Corpus test of `ringtrace view` against babeltrace2 2.0.4's recorded
# output: every case of ../shared/testdata/{ctf-corpus,lttng-ust,barectf}.
# Usage: corpus.sh RINGTRACE_BINARY REPO_ROOT [CASE_FILTER_REGEX]
# Prints one line per case and a summary; exits 1 if any case fails.
set -u
. "$(dirname "$(realpath "$0")")/corpus-common.sh"
FILTER=${3:-}

if [ ! -d "$DATA/ctf-corpus" ]; then
	echo "corpus not found at $DATA (expected ../shared/testdata beside the repo)"
	exit 1
fi

declare -A EXCEPT VERDICT
while IFS=$'\t' read -r name exp reason; do
	case "$name" in ''|'#'*) continue ;; esac
	EXCEPT[$name]=$exp
done < "$EXC"
while IFS=$'\t' read -r name bt2 bt2cs verdict rest; do
	VERDICT[$name]=$verdict
done < "$DATA/ctf-corpus/cases.tsv"

pass=0 fail=0
report() { # status case detail
	if [ "$1" = ok ]; then pass=$((pass + 1)); printf 'PASS %-62s %s\n' "$2" "$3"
	else fail=$((fail + 1)); printf 'FAIL %-62s %s\n' "$2" "$3"; fi
}

# address space limit (1 GiB); none for Address/ThreadSanitizer builds, whose
# shadow memory needs terabytes of address space
VLIMIT=$(reader_vlimit 1048576)

# run OPTIONS... : runs the reader on ./trace under a timeout and a memory
# limit; sets RC, output in $TMP/out, $TMP/err
run() {
	( ulimit -v $VLIMIT; exec timeout 30 "$BIN" view "$@" trace ) >"$TMP/out" 2>"$TMP/err"
	RC=$?
}

expected() { # file -> $TMP/exp (decompressed), returns 1 if absent
	if [ -f "$1.gz" ]; then gzip -dc "$1.gz" >"$TMP/exp"
	elif [ -f "$1" ]; then cp "$1" "$TMP/exp"
	else return 1; fi
}

warnings_match() { # compares WARNING lines with expected-stderr.txt
	[ -f expected-stderr.txt ] || { ! grep -q '^WARNING' "$TMP/err"; return; }
	grep '^WARNING' "$TMP/err" | sed "s#\"$PWD/#\"#g" >"$TMP/w1"
	grep '^WARNING' expected-stderr.txt >"$TMP/w2"
	cmp -s "$TMP/w1" "$TMP/w2"
}

check_case() { # dir name variants...
	local dir=$1 name=$2; shift 2
	local bt2=0 exc=${EXCEPT[$name]:-} why=""
	[ -f "$dir/expected-exit-status" ] && bt2=$(cat "$dir/expected-exit-status")
	cd "$dir" || return
	for v in "$@"; do
		local file=${v%%:*} opts=${v#*:}
		# shellcheck disable=SC2086
		run $opts
		if [ $RC -ge 124 ]; then report bad "$name" "$file: crashed or timed out (exit $RC)"; cd - >/dev/null; return; fi
		case "$exc" in
		fail)
			if [ $RC -eq 1 ] && grep -q 'error:' "$TMP/err"; then why="clean error (suite verdict fail; bt2 exit $bt2)"
			else report bad "$name" "$file: expected a clean error, got exit $RC"; cd - >/dev/null; return; fi ;;
		pass)
			if [ $RC -ne 0 ]; then report bad "$name" "$file: expected success, got exit $RC: $(head -c 200 "$TMP/err")"; cd - >/dev/null; return; fi
			if expected "$file" && [ -s "$TMP/exp" ]; then
				head -c "$(stat -c %s "$TMP/exp")" "$TMP/out" | cmp -s - "$TMP/exp" ||
					{ report bad "$name" "$file: bt2's partial output is not a prefix of ours"; cd - >/dev/null; return; }
			fi
			why="success (bt2 exit $bt2 is wrong, see exceptions)" ;;
		lines:*)
			local max=${exc#lines:}
			if [ $RC -ne 0 ]; then report bad "$name" "$file: exit $RC"; cd - >/dev/null; return; fi
			if expected "$file"; then
				local n
				n=$(diff "$TMP/out" "$TMP/exp" | grep -c '^<')
				if [ "$n" -gt "$max" ] || [ "$(wc -l <"$TMP/out")" != "$(wc -l <"$TMP/exp")" ]; then
					report bad "$name" "$file: $n lines differ (at most $max allowed)"; cd - >/dev/null; return
				fi
			fi
			why="identical except $max documented line(s)" ;;
		*)
			if [ "$bt2" = 0 ]; then
				if [ $RC -ne 0 ]; then report bad "$name" "$file: exit $RC: $(head -c 300 "$TMP/err")"; cd - >/dev/null; return; fi
				if expected "$file"; then
					cmp -s "$TMP/out" "$TMP/exp" || { report bad "$name" "$file: output differs from babeltrace2's: $(diff "$TMP/out" "$TMP/exp" | head -3 | tr '\n' ' ' | head -c 300)"; cd - >/dev/null; return; }
				elif [ -f "$file.sha256" ]; then
					[ "$(sha256sum <"$TMP/out" | cut -d' ' -f1)" = "$(head -1 "$file.sha256" | cut -d' ' -f1)" ] ||
						{ report bad "$name" "$file: sha256 differs"; cd - >/dev/null; return; }
				fi
				if [ "$file" = expected.txt ] && ! warnings_match; then
					report bad "$name" "stderr warnings differ from expected-stderr.txt"; cd - >/dev/null; return
				fi
				why="byte-identical"
			else
				if [ $RC -ne 1 ] || ! grep -q 'error:' "$TMP/err"; then
					report bad "$name" "$file: expected a clean error (bt2 exit $bt2), got exit $RC"; cd - >/dev/null; return
				fi
				# what we print before the error must be what bt2
				# printed (bt2 may print more: it decodes events
				# that cross packet boundaries, which CTF forbids)
				if [ "$bt2" = 1 ] && expected "$file"; then
					head -c "$(stat -c %s "$TMP/out")" "$TMP/exp" | cmp -s - "$TMP/out" ||
						{ report bad "$name" "$file: partial output is not a prefix of bt2's"; cd - >/dev/null; return; }
				fi
				why="clean error like bt2 (exit $bt2${VERDICT[$name]:+, suite verdict ${VERDICT[$name]}})"
			fi ;;
		esac
	done
	cd - >/dev/null
	report ok "$name" "$why"
}

for dir in "$DATA"/ctf-corpus/*/; do
	name=$(basename "$dir")
	[ -n "$FILTER" ] && ! [[ $name =~ $FILTER ]] && continue
	check_case "$dir" "$name" "expected.txt:" "expected-clock-seconds.txt:--clock-seconds"
done
for dir in "$DATA"/lttng-ust/*/ "$DATA"/barectf/*/; do
	[ -d "$dir/trace" ] || continue
	name=$(basename "$(dirname "$dir")")-$(basename "$dir")
	[ -n "$FILTER" ] && ! [[ $name =~ $FILTER ]] && continue
	check_case "$dir" "$name" "expected.txt:" "expected-clock-seconds.txt:--clock-seconds" \
		"expected-no-delta.txt:--no-delta" "expected-all-fields.txt:--names=all --fields=all"
done
echo "corpus: $pass passed, $fail failed"
[ $fail -eq 0 ]
