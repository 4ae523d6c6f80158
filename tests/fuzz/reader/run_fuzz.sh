#!/bin/bash
# Runs one libFuzzer harness for RTR_FUZZ_SECONDS (default 60) seeded from
# the shared test traces. A crash fails the test; the input is kept in
# WORK/artifacts/ and belongs in tests/fuzz/reader/regressions/KIND/.
# Usage: run_fuzz.sh FUZZER KIND DATA_DIR WORK_DIR
set -u
bin=$1 kind=$2 data=$3 work=$4
secs=${RTR_FUZZ_SECONDS:-60}
here=$(dirname "$0")
work=$work/$kind
mkdir -p "$work/corpus-$kind" "$work/artifacts"
if [ -d "$data" ]; then
	"$here/make_seeds.sh" "$data" "$work/seeds" >/dev/null
fi
maxlen=65536
[ "$kind" = packet ] && maxlen=131072
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/$kind-" \
	"$work/corpus-$kind" "$work/seeds/$kind" "$here/regressions/$kind" 2>"$work/fuzz-$kind.log"
rc=$?
tail -12 "$work/fuzz-$kind.log"
if [ $rc -ne 0 ]; then
	echo "fuzz-$kind: FAILED (exit $rc); reproducer(s):"
	ls -1 "$work/artifacts/$kind-"* 2>/dev/null
	exit 1
fi
echo "fuzz-$kind: no crash in ${secs}s"
