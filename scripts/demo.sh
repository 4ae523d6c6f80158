#!/usr/bin/env bash
# `make demo`: shows ringtrace working end to end on this machine: the
# multi-threaded examples/demo program is run under `ringtrace record`
# (its tracepoints go through per-CPU shared-memory ring buffers into a CTF
# trace), the trace is printed with `ringtrace view` and checked against
# babeltrace2, then the recording's summary. (examples/ring_demo, the ring buffer alone, is built too.)
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
for f in "$build/bin/ringtrace" "$build/bin/demo"; do
	if [[ ! -x "$f" ]]; then
		echo "demo: $f not built" >&2
		exit 1
	fi
done
trace="$build/demo-trace"
rm -rf "$trace"
echo "== ringtrace record -o $trace -- $build/bin/demo"
summary_file=$(mktemp)
trap 'rm -f "$summary_file"' EXIT
status=0
"$build/bin/ringtrace" record -o "$trace" -- "$build/bin/demo" 2>"$summary_file" || status=$?
if [[ $status -ne 0 ]] || ! ls "$trace"/*/metadata >/dev/null 2>&1; then
	cat "$summary_file" >&2
	echo "demo: recording failed (status $status)" >&2
	exit 1
fi
echo
echo "== ringtrace view $trace"
"$build/bin/ringtrace" view "$trace"
echo
if command -v babeltrace2 >/dev/null 2>&1; then
	if cmp -s <("$build/bin/ringtrace" view "$trace" 2>&1) <(babeltrace2 "$trace" 2>&1); then
		echo "== babeltrace2 $trace prints exactly the same bytes"
	else
		echo "== babeltrace2 $trace (differs from ringtrace view!)"
		babeltrace2 "$trace"
	fi
else
	echo "(babeltrace2 is not installed: run 'make deps' to compare)"
fi
echo
echo "== summary"
cat "$summary_file"
echo
echo "files:"
(cd "$trace" && find . -type f | sort | sed 's/^\.\//  /')
echo
echo "== next: put ringtrace on your PATH with 'sudo make install' (PREFIX=/usr/local by default;"
echo "   'make install PREFIX=\$HOME/.local' needs no root; DESTDIR=... stages a package)"
