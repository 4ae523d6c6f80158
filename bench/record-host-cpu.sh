#!/usr/bin/env bash
# CPU time the session host of `ringtrace record` spends per MB of trace it
# drains (its main thread and its drain thread; not the traced program's,
# which the kernel counts apart as its children's), for this build and a
# baseline build, alternated BENCH_REPS times in the same run.
# The traced program is bench_rtr_loop: BENCH_EVENTS events (12 bytes
# each) on one thread, buffers big enough to lose nothing.
# Usage: BASE=<baseline build dir> bench/record-host-cpu.sh
# Prints `BENCH record_host.<build>.cpu_ms_per_mb <median> ms` and the
# ratio this/baseline. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BASE=${BASE:?BASE=<baseline build directory>}
N=${BENCH_EVENTS:-50000000}
REPS=${BENCH_REPS:-5}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

. bench/lib.sh

# Runs record; prints its own CPU time in seconds (all its threads, not
# its children): /proc/PID/stat utime + stime read when it has exited but
# is not reaped yet (waitid WNOWAIT), so nothing of its end is missed.
cpu_of() {
	python3 - "$@" <<'PY'
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))
p.wait()
PY
}

run() { # build-dir -> ms of host CPU per MB written
	local b=$1 dir="$OUT/t" cpu mb
	rm -rf "$dir"
	cpu=$(cpu_of "$b/bin/ringtrace" record -q -o "$dir" --subbuf-size 4M --num-subbuf 32 \
		--mem-limit 2G -- "$b/bin/bench_rtr_loop" "$N" 1)
	mb=$(find "$dir" -type f ! -name metadata ! -path '*/index/*' -printf '%s\n' |
		awk '{s += $1} END {print s / 1e6}')
	awk -v c="$cpu" -v m="$mb" 'BEGIN {printf "%.3f\n", c * 1000 / m}'
}

: >"$OUT/this" && : >"$OUT/base"
for rep in $(seq "$REPS"); do
	run "$BASE" >>"$OUT/base"
	run "$BUILD" >>"$OUT/this"
	echo "# rep $rep: baseline $(tail -n1 "$OUT/base") ms/MB, this $(tail -n1 "$OUT/this") ms/MB"
done
b=$(median <"$OUT/base")
t=$(median <"$OUT/this")
echo "BENCH record_host.baseline.cpu_ms_per_mb $b ms"
echo "BENCH record_host.this.cpu_ms_per_mb $t ms"
echo "BENCH record_host.ratio.this_vs_baseline $(awk -v a="$t" -v b="$b" 'BEGIN {printf "%.2f", a / b}') ratio"
