#!/usr/bin/env bash
# Ring buffer fast path: rseq vs atomic, constant clock vs TSC, 1 vs 2 writers.
set -euo pipefail
BUILD=${BUILD:-build}
exec "$BUILD/bin/ring_bench" "${RING_BENCH_EVENTS:-20000000}" "${RING_BENCH_RUNS:-5}"
