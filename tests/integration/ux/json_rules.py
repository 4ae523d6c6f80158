#!/usr/bin/env python3
"""Checks a Chrome Trace Event JSON file (`ringtrace convert --format json`)
against the rules of the Trace Event format, as the Perfetto UI and
chrome://tracing read it, and against the real IDs of the traced program:

  * the document is an object with a "traceEvents" array; every element is
    an object with a known "ph"; "pid"/"tid" are integers; every event but
    metadata has a numeric "ts"; "X" events a "dur" >= 0; instants a scope
    "s" of t, p or g; "args" an object;
  * metadata ("M") events name processes and threads with a string;
  * per thread (pid, tid): "B"/"E" events balance and come in time order
    (an "E" closes the last "B"), and "X" slices nest: a slice starting
    inside another ends inside it too;
  * --pids P1,P2: the processes of thread events are exactly these, each
    with a process_name (--name NAME: that name);
  * --tids PID:TID,...: every such thread has events, and every thread
    event is on one of them or on its process's main thread;
  * --cpu-tracks: no real thread IDs (no vtid context): every thread is a
    made-up CPU track (tid >= 4194304, named "CPU n");
  * --slices N: exactly N slices ("X", or B/E pairs); --max-depth D: no
    thread nests deeper than D.
Times are compared as integers (nanoseconds), parsed without rounding.
Usage: json_rules.py FILE.json [options]"""
import argparse
import decimal
import json
import sys

PH = set("BEXiIbenSTpFsftPOCDMNRc(),") | {"R"}
SYNTH = 4194304


def ns(v):
    return int(decimal.Decimal(v) * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--pids")
    ap.add_argument("--name")
    ap.add_argument("--tids")
    ap.add_argument("--cpu-tracks", action="store_true")
    ap.add_argument("--slices", type=int)
    ap.add_argument("--max-depth", type=int)
    a = ap.parse_args()
    errs = []

    def bad(msg):
        errs.append(msg)
        if len(errs) > 20:
            raise SystemExit("\n".join(errs))

    with open(a.file, encoding="utf-8") as f:
        doc = json.load(f, parse_float=decimal.Decimal)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        sys.exit(f"{a.file}: not an object with a traceEvents array")
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        bad(f"displayTimeUnit {doc['displayTimeUnit']!r}")
    pnames, tnames = {}, {}
    per_thread = {}
    nslices = 0
    for i, e in enumerate(doc["traceEvents"]):
        if not isinstance(e, dict):
            bad(f"element {i} is not an object")
            continue
        ph = e.get("ph")
        if ph not in PH:
            bad(f"element {i}: unknown ph {ph!r}")
            continue
        for k in ("pid", "tid"):
            if not isinstance(e.get(k), int) or isinstance(e.get(k), bool):
                bad(f"element {i}: {k} {e.get(k)!r} is not an integer")
        if "args" in e and not isinstance(e["args"], dict):
            bad(f"element {i}: args is not an object")
        if ph == "M":
            n = e.get("name")
            if n in ("process_name", "thread_name"):
                v = e.get("args", {}).get("name")
                if not isinstance(v, str):
                    bad(f"element {i}: {n} without a string args.name")
                (pnames if n == "process_name" else tnames)[
                    e["pid"] if n == "process_name" else (e["pid"], e["tid"])] = v
            elif n in ("process_sort_index", "thread_sort_index"):
                if not isinstance(e.get("args", {}).get("sort_index"), int):
                    bad(f"element {i}: {n} without an integer sort_index")
            else:
                bad(f"element {i}: unknown metadata {n!r}")
            continue
        if not isinstance(e.get("name"), str) and ph != "E":
            bad(f"element {i}: no name")
        if not isinstance(e.get("ts"), (int, decimal.Decimal)):
            bad(f"element {i}: ts {e.get('ts')!r} is not a number")
            continue
        if ph in ("i", "I"):
            if e.get("s", "t") not in ("t", "p", "g"):
                bad(f"element {i}: instant scope {e.get('s')!r}")
            if e.get("s", "t") == "g":
                continue
        if ph == "X":
            d = e.get("dur")
            if not isinstance(d, (int, decimal.Decimal)) or d < 0:
                bad(f"element {i}: X with dur {d!r}")
                continue
        per_thread.setdefault((e["pid"], e["tid"]), []).append((i, e))
    depth_max = 0
    for (pid, tid), evs in per_thread.items():
        # B/E: in file order, balanced, in time order
        stack, last = [], None
        for i, e in evs:
            if e["ph"] not in ("B", "E"):
                continue
            t = ns(e["ts"])
            if last is not None and t < last:
                bad(f"thread {pid}/{tid}: element {i} ({e['ph']}) goes back in time")
            last = t
            if e["ph"] == "B":
                stack.append((i, e))
                depth_max = max(depth_max, len(stack))
            elif not stack:
                bad(f"thread {pid}/{tid}: element {i}: E without a B")
            else:
                stack.pop()
                nslices += 1
        if stack:
            bad(f"thread {pid}/{tid}: {len(stack)} B never ended")
        # X: nested intervals
        xs = sorted(((ns(e["ts"]), -ns(e["dur"]), i) for i, e in evs if e["ph"] == "X"))
        open_ = []
        for t, negd, i in xs:
            end = t - negd
            while open_ and open_[-1][1] <= t:
                open_.pop()
            if open_ and end > open_[-1][1]:
                bad(f"thread {pid}/{tid}: slice element {i} [{t},{end}] overlaps "
                    f"element {open_[-1][2]} [{open_[-1][0]},{open_[-1][1]}] without nesting")
            open_.append((t, end, i))
            depth_max = max(depth_max, len(open_))
            nslices += 1
    threads = set(per_thread)
    pids = {p for p, _ in threads}
    if a.pids is not None:
        want = {int(x) for x in a.pids.split(",") if x}
        if pids != want:
            bad(f"processes {sorted(pids)}, the program printed {sorted(want)}")
        for p in want:
            if p not in pnames:
                bad(f"process {p} has no process_name")
            elif a.name is not None and pnames[p] != a.name:
                bad(f"process {p} is named {pnames[p]!r}, not {a.name!r}")
    if a.tids is not None:
        want = {tuple(int(y) for y in x.split(":")) for x in a.tids.split(",") if x}
        for w in want - threads:
            bad(f"thread {w[0]}/{w[1]} printed by the program has no event")
        for t in threads - want:
            if t[0] != t[1]:
                bad(f"thread {t[0]}/{t[1]} has events but the program has no such thread")
    if a.cpu_tracks:
        for p, t in threads:
            if t < SYNTH or tnames.get((p, t)) != f"CPU {t - SYNTH}":
                bad(f"thread {p}/{t} is not a CPU track (named {tnames.get((p, t))!r})")
    for t in threads:
        if t not in tnames and t[0] != t[1]:
            bad(f"thread {t[0]}/{t[1]} has no thread_name")
    if a.slices is not None and nslices != a.slices:
        bad(f"{nslices} slices, expected {a.slices}")
    if a.max_depth is not None and depth_max > a.max_depth:
        bad(f"slices nest {depth_max} deep, expected at most {a.max_depth}")
    if errs:
        sys.exit(f"{a.file}:\n  " + "\n  ".join(errs))
    print(f"{a.file}: {len(doc['traceEvents'])} elements, {len(pids)} processes, "
          f"{len(threads)} threads, {nslices} slices (depth {depth_max}): rules hold")


main()
