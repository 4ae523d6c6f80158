#!/usr/bin/env python3
"""Checks the "Events per process" and "Events per thread" tables of
`ringtrace stats` against counts computed here from babeltrace2's text of
the same traces (default fields: the trace's vpid after the hostname and
procname, "hostname:procname:(vpid)"; contexts "vpid = N", "vtid = N",
procname = "..."), and the DISCARDED column against the events each
process lost as `record -v` counted them (--lost PID:N,...: the host's
ring-buffer counters, not read from the trace) and at least the discarded
events babeltrace2 warned of (--lost-min PID:N,...: babeltrace2 reports
the changes of a stream's discarded counter from packet to packet, so not
what was discarded before a stream's first packet), or "-" where
--unknown-lost says so.
Usage: stats_check.py STATS.txt BT2.txt [--lost PID:N,...] [--lost-min PID:N,...]
                      [--unknown-lost] [--threads]  (a per-thread table is expected)"""
import argparse
import re
import sys

PREFIX = re.compile(r'^\[[^]]*\] \([^)]*\) (?:\S+):(\S+):\((\d+)\) ')
CTX = {k: re.compile(r'[{,] ' + k + r' = (\d+)') for k in ("vpid", "vtid")}
PROCNAME = re.compile(r'[{,] procname = "([^"]*)"')


def table(lines, title):
    rows, on = [], False
    for l in lines:
        if l == title:
            on = True
            continue
        if on:
            if not l.strip():
                break
            if l.split()[0] == "EVENTS":
                continue
            rows.append(l.split())
    return rows if on else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stats")
    ap.add_argument("bt2")
    ap.add_argument("--lost", default="")
    ap.add_argument("--lost-min", default="")
    ap.add_argument("--unknown-lost", action="store_true")
    ap.add_argument("--threads", action="store_true")
    a = ap.parse_args()
    procs, threads, pname = {}, {}, {}
    with open(a.bt2, encoding="utf-8", errors="replace") as f:
        for l in f:
            m = PREFIX.match(l)
            pid = tid = None
            name = None
            if m:
                pid, name = int(m.group(2)), m.group(1)
            c = CTX["vpid"].search(l)
            if c:
                pid = int(c.group(1))
            c = CTX["vtid"].search(l)
            if c:
                tid = int(c.group(1))
            c = PROCNAME.search(l)
            if pid is None:
                continue
            procs[pid] = procs.get(pid, 0) + 1
            if m:
                pname[pid] = name
            elif c and (pid not in pname or tid == pid):
                pname[pid] = c.group(1)
            if tid is not None:
                threads[(pid, tid)] = threads.get((pid, tid), 0) + 1
    with open(a.stats) as f:
        lines = [l.rstrip("\n") for l in f]
    fails = []
    rows = table(lines, "Events per process")
    if rows is None:
        sys.exit("no 'Events per process' table")
    got = {int(r[3]): r for r in rows}
    if set(got) != set(procs):
        fails.append(f"processes {sorted(got)}, babeltrace2 {sorted(procs)}")
    lost = {int(p): int(n) for p, n in (x.split(":") for x in a.lost.split(",") if x)}
    lmin = {int(p): int(n) for p, n in (x.split(":") for x in a.lost_min.split(",") if x)}
    for pid, n in procs.items():
        r = got.get(pid)
        if not r:
            continue
        if int(r[0]) != n:
            fails.append(f"process {pid}: {r[0]} events, babeltrace2 {n}")
        name = " ".join(r[4:])
        if name != pname.get(pid):
            fails.append(f"process {pid}: named {name!r}, babeltrace2 {pname.get(pid)!r}")
        if a.unknown_lost:
            if r[1] != "-":
                fails.append(f"process {pid}: discarded {r[1]}, should be unknown (-)")
        elif r[1] == "-" or int(r[1]) != lost.get(pid, 0):
            fails.append(f"process {pid}: discarded {r[1]}, record counted {lost.get(pid, 0)}")
        elif int(r[1]) < lmin.get(pid, 0):
            fails.append(f"process {pid}: discarded {r[1]}, babeltrace2 warned of {lmin[pid]}")
    trows = table(lines, "Events per thread")
    if a.threads:
        if trows is None:
            fails.append("no 'Events per thread' table")
        else:
            tg = {(int(r[1]), int(r[2])): int(r[0]) for r in trows}
            if tg != threads:
                diff = sorted(set(tg.items()) ^ set(threads.items()))[:6]
                fails.append(f"threads differ from babeltrace2's counts: {diff}")
    elif trows is not None:
        fails.append("a per-thread table although the traces name no thread")
    if fails:
        sys.exit("stats: " + "\n  ".join(fails))
    print(f"stats: {len(procs)} processes ({sum(procs.values())} events), "
          f"{len(threads)} threads, lost {sum(lost.values())} as record counted "
          f"(babeltrace2 warned of {sum(lmin.values())})")


main()
