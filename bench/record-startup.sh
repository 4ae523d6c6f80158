#!/usr/bin/env bash
# What `ringtrace record` adds to a short program's start-to-end time
# (issue 12): the program alone (built without tracepoints), linked with
# libringtrace but not recorded, and under `record` — with this build and,
# if BASE is given, a baseline build's ringtrace — alternated in rounds
# (each round runs every variant once, in turn), BENCH_REPS rounds. The
# program is tests/ux_app (1 thread, 1 round of 11 events) and its twin
# without tracepoints (ux_app_cyg, no -finstrument-functions effect
# without LTTng's preload). Prints the median wall time of each variant,
# the CPU time of the whole (children included), and the ratios.
# Usage: [BASE=<baseline build dir>] bench/record-startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BASE=${BASE:-}
REPS=${BENCH_REPS:-40}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x "$BUILD/tests/ux_app" ] || { echo "build first ($BUILD/tests/ux_app missing)"; exit 1; }
python3 - "$BUILD" "$BASE" "$REPS" "$OUT" <<'PY'
import os, resource, shutil, statistics, subprocess, sys, time
build, base, reps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
app, alone = f"{build}/tests/ux_app", f"{build}/tests/ux_app_cyg"
var = [("alone", [alone, "1", "1"]), ("linked", [app, "1", "1"]),
       ("record", [f"{build}/bin/ringtrace", "record", "-q", "-o", f"{out}/t", "--", app, "1", "1"])]
if base:
    var.append(("record_base", [f"{base}/bin/ringtrace", "record", "-q", "-o", f"{out}/t", "--", app, "1", "1"]))
wall = {n: [] for n, _ in var}
cpu = {n: [] for n, _ in var}
for r in range(reps + 3):
    for n, cmd in var:
        shutil.rmtree(f"{out}/t", ignore_errors=True)
        u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter_ns()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        t1 = time.perf_counter_ns()
        u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r >= 3:  # warm-up rounds left out
            wall[n].append((t1 - t0) / 1e6)
            cpu[n].append((u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime) * 1e3)
med = {n: statistics.median(v) for n, v in wall.items()}
for n, _ in var:
    print(f"BENCH record_startup.{n}.wall_ms {med[n]:.2f} ms")
    print(f"BENCH record_startup.{n}.cpu_ms {statistics.median(cpu[n]):.2f} ms")
print(f"BENCH record_startup.record_over_alone {med['record'] / med['alone']:.2f} x")
print(f"BENCH record_startup.linked_over_alone {med['linked'] / med['alone']:.2f} x")
print(f"BENCH record_startup.record_added_ms {med['record'] - med['alone']:.2f} ms")
if base:
    print(f"BENCH record_startup.record_base_added_ms {med['record_base'] - med['alone']:.2f} ms")
    print(f"BENCH record_startup.record_over_base {med['record'] / med['record_base']:.2f} x")
PY
