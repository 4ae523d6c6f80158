#!/usr/bin/env bash
# Trace clock benchmark (docs/design/clock.md): runs $BUILD/bin/clock_bench,
# which prints `BENCH clock.<name> <value> <unit>` lines. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$BUILD/bin/clock_bench"
if [[ ! -x "$bin" ]]; then
	echo "clock.sh: $bin not found; build first (make build)" >&2
	exit 1
fi
exec "$bin" "$@"
