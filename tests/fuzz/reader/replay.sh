#!/bin/bash
# Replays the seed corpus (built from the shared test traces) and every
# saved regression input through a harness built without libFuzzer.
# Usage: replay.sh REPLAY_BINARY KIND DATA_DIR WORK_DIR
set -u
bin=$1 kind=$2 data=$3 work=$4
here=$(dirname "$0")
work=$work/$kind
args=("$here/regressions/$kind")
if [ -d "$data" ]; then
	"$here/make_seeds.sh" "$data" "$work/seeds" >/dev/null || exit 1
	args+=("$work/seeds/$kind")
fi
# a memory limit, except under AddressSanitizer (it reserves terabytes of
# address space for its shadow memory)
if [ -z "${ASAN_OPTIONS:-}" ] && ! nm -an "$bin" 2>/dev/null | grep -q __asan_init; then
	( ulimit -v 4194304; exec timeout 250 "$bin" "${args[@]}" )
else
	timeout 250 "$bin" "${args[@]}"
fi
