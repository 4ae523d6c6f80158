#!/usr/bin/env bash
# `make bench`: runs every benchmark script in bench/ (bench/*.sh) in turn.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
	[[ -e "$b" ]] || continue
	echo "== $b"
	BUILD="$build" bash "$b" || rc=1
done
exit $rc
