#!/bin/bash
# What the base-address statedump adds to a traced program's start-up
# (instrument.md §5): a small program linked with libringtrace (startup.c,
# one tracepoint) under `ringtrace record`, variants interleaved in rounds:
#   noip     --context vpid      (no ip context: no statedump, one check)
#   ip_off   --context vpid,ip   with RINGTRACE_WITHOUT_BADDR_STATEDUMP=1
#   ip       --context vpid,ip   (the statedump: start, 4 objects, end)
# Per run: "to main" = the program's clock at main minus the clock its
# shell printed just before exec (exec, loading, the runtime's constructor
# with its handshake and the dump), the wall time of the whole record run,
# and, for ip, the dump's span in the trace (statedump:end - start).
# Medians; BENCH lines and the differences measured in the same run. The
# machine is shared with other agents: read the differences, not absolutes.
# Usage: bench/instrument/statedump.sh BUILD_DIR [ROUNDS]
set -u
B=$(cd "${1:?build dir}" && pwd) R=${2:-21}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -I"$SRC/include" -o "$TMP/startup" "$HERE/startup.c" -L"$B/lib" -lringtrace -Wl,-rpath,"$B/lib" || exit 1
python3 - "$B/bin/ringtrace" "$TMP" "$R" <<'PY'
import os, re, statistics, subprocess, sys, time
rt, tmp, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
prog = f"{tmp}/startup"
var = [("noip", "vpid", {}), ("ip_off", "vpid,ip", {"RINGTRACE_WITHOUT_BADDR_STATEDUMP": "1"}),
       ("ip", "vpid,ip", {})]
tomain = {v[0]: [] for v in var}
wall = {v[0]: [] for v in var}
span = []
def ts(line):
    h, m, s = re.match(r"\[(\d+):(\d+):([\d.]+)\]", line).groups()
    return (int(h) * 3600 + int(m) * 60) * 1e9 + float(s) * 1e9
for r in range(rounds + 2):
    for name, ctx, env in var:
        d = f"{tmp}/t"
        subprocess.run(["rm", "-rf", d])
        e = dict(os.environ, **env)
        t0 = time.monotonic()
        p = subprocess.run([rt, "record", "-q", "-o", d, "--context", ctx, "--", "/bin/sh", "-c",
                            f"date +%s%N; exec {prog}"], env=e, capture_output=True, text=True)
        t1 = time.monotonic()
        if p.returncode:
            sys.exit(f"record failed: {p.stderr}")
        nums = [int(x.split()[-1]) for x in p.stdout.split("\n") if x.strip()]
        if r < 2:
            continue  # warm-up
        tomain[name].append((nums[1] - nums[0]) / 1e3)
        wall[name].append((t1 - t0) * 1e3)
        if name == "ip":
            v = subprocess.run([rt, "view", d], capture_output=True, text=True).stdout.splitlines()
            s = [ts(l) for l in v if "lttng_ust_statedump:start:" in l]
            en = [ts(l) for l in v if "lttng_ust_statedump:end:" in l]
            nb = sum("lttng_ust_statedump:bin_info:" in l for l in v)
            if len(s) != 1 or len(en) != 1:
                sys.exit(f"expected one statedump in the ip run, got {len(s)}")
            span.append((en[0] - s[0]) / 1e3)
        elif any("lttng_ust_statedump:" in l for l in
                 subprocess.run([rt, "view", d], capture_output=True, text=True).stdout.splitlines()):
            sys.exit(f"{name}: a statedump was written")
med = statistics.median
for n, _, _ in var:
    print(f"BENCH statedump_to_main_{n} {med(tomain[n]):.1f} us")
    print(f"BENCH statedump_record_wall_{n} {med(wall[n]):.2f} ms")
print(f"BENCH statedump_span_ip {med(span):.1f} us ({nb} objects)")
print(f"BENCH statedump_to_main_added_ip_vs_off {med(tomain['ip']) - med(tomain['ip_off']):.1f} us")
print(f"BENCH statedump_to_main_added_off_vs_noip {med(tomain['ip_off']) - med(tomain['noip']):.1f} us")
print(f"BENCH statedump_wall_ratio_ip_vs_noip {med(wall['ip']) / med(wall['noip']):.3f} x")
print(f"rounds {rounds}; load {os.getloadavg()[0]:.2f}")
PY
