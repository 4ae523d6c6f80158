#!/usr/bin/env bash
# `make demo`: shows ringtrace working end to end on this machine.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
if [[ -x "$build/bin/ring_demo" ]]; then
	"$build/bin/ring_demo"
else
	echo "demo: $build/bin/ring_demo not built" >&2
	exit 1
fi
