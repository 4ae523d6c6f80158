#!/usr/bin/env python3
"""Checks a `ringtrace convert --format json` file against babeltrace2's text
of the same trace (given as `--clock-seconds` output): valid JSON in the
Chrome Trace Event format, every event babeltrace2 printed once, as an
instant or as the begin or end of a slice ("X": ts and ts + dur, the event
names in args.events, their fields in args.begin/args.end), with the same
name and timestamp (to the nanosecond) and the integer fields babeltrace2
printed among the args, and a named track for every thread/CPU used; the
"discarded events" markers count what babeltrace2's warnings count.
Usage: json_check.py OUT.json BT2_SECONDS.txt BT2_STDERR.txt"""
import decimal
import json
import re
import sys

LINE = re.compile(r'^\[(\d+)\.(\d{9})\] \([^)]*\) (?:\S+ )*?([\w.:-]+): (.*)$')
INT_FIELD = re.compile(r'(?:^|[{,] )(\w+) = (-?\d+)(?=,| })')
DISCARDED = re.compile(r'discarded (\d+) events')


def same(num, text):
    """babeltrace2 prints octal integers with a leading 0, negative ones as
    their two's complement (the args hold the signed value)."""
    if len(text) > 1 and text[0] == "0":
        return (num - int(text, 8)) % (1 << 32) == 0
    return num == int(text)


def main():
    out, ref, err = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(out) as f:
        doc = json.load(f, parse_float=decimal.Decimal)
    events = doc["traceEvents"]
    origin = int(doc["otherData"]["origin_ns"])
    inst = []
    for e in events:
        if e.get("ph") == "i" and e.get("cat") != "ringtrace":
            inst.append(e)
        elif e.get("ph") == "X":
            b, n = dict(e), dict(e)
            b["name"], b["args"] = e["args"]["events"][0], e["args"]["begin"]
            n["name"], n["args"] = e["args"]["events"][1], e["args"]["end"]
            t0 = decimal.Decimal(e["ts"])
            n["ts"] = t0 + decimal.Decimal(e["dur"])
            b["s"] = n["s"] = "t"
            inst += [b, n]
    # in time order, as babeltrace2 prints (same time: by name, then in
    # the order of the file)
    inst.sort(key=lambda e: (decimal.Decimal(e["ts"]), e["name"]))
    marks = [e for e in events if e.get("ph") == "i" and e.get("cat") == "ringtrace"]
    named = {(e["pid"], e["tid"]) for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    with open(ref, encoding="utf-8", errors="surrogateescape") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    keyed = []
    for l in lines:
        m = LINE.match(l)
        keyed.append((int(m.group(1)) * 1000000000 + int(m.group(2)), m.group(3)) if m else (0, ""))
    order = sorted(range(len(lines)), key=lambda k: keyed[k])
    lines = [lines[k] for k in order]
    with open(err, encoding="utf-8", errors="surrogateescape") as f:
        want = sum(int(n) for n in DISCARDED.findall(f.read()))
    discarded = sum(int(e["args"]["count"]) for e in marks if e["name"] == "discarded events")
    if discarded != want:
        sys.exit(f"{out}: discarded events markers count {discarded}, babeltrace2 warned of {want}")
    if len(inst) != len(lines):
        sys.exit(f"{out}: {len(inst)} instant events, babeltrace2 printed {len(lines)}")
    # Events at the same time with the same name may be in either order
    # (several CPUs or threads): within such a run, each line goes with the
    # JSON event whose integer fields it matches.
    def fields_match(e, l):
        m = LINE.match(l)
        return m is not None and all(
            not (k in e["args"] and isinstance(e["args"][k], int)) or same(e["args"][k], v)
            for k, v in INT_FIELD.findall(m.group(4)))
    i = 0
    while i < len(inst):
        j = i
        while j + 1 < len(inst) and inst[j + 1]["ts"] == inst[i]["ts"] and \
                inst[j + 1]["name"] == inst[i]["name"]:
            j += 1
        for a in range(i, j + 1):
            if not fields_match(inst[a], lines[a]):
                for b in range(a + 1, j + 1):
                    if fields_match(inst[b], lines[a]):
                        inst[a], inst[b] = inst[b], inst[a]
                        break
        i = j + 1
    for i, (e, l) in enumerate(zip(inst, lines)):
        m = LINE.match(l)
        if not m:
            sys.exit(f"cannot parse babeltrace2 line {i + 1}: {l[:120]}")
        ns = int(m.group(1)) * 1000000000 + int(m.group(2))
        if e["name"] != m.group(3):
            sys.exit(f"event {i}: name {e['name']!r}, babeltrace2 {m.group(3)!r}")
        got = origin + int(decimal.Decimal(e["ts"]) * 1000)
        if got != ns:
            sys.exit(f"event {i} ({e['name']}): ts {e['ts']} -> {got} ns, babeltrace2 {ns}")
        if e.get("s") not in ("t", "p", "g"):
            sys.exit(f"event {i}: instant scope {e.get('s')!r}")
        for k, v in INT_FIELD.findall(m.group(4)):
            if k in e["args"] and isinstance(e["args"][k], int) and not same(e["args"][k], v):
                sys.exit(f"event {i} ({e['name']}): {k} = {e['args'][k]}, babeltrace2 {v}")
        if (e["pid"], e["tid"]) not in named:
            sys.exit(f"event {i}: track pid {e['pid']} tid {e['tid']} has no thread_name")
    checked = sum(1 for e, l in zip(inst, lines)
                  for k, _ in INT_FIELD.findall(LINE.match(l).group(4)) if k in e["args"])
    print(f"{out}: {len(inst)} events, {checked} integer fields, {len(named)} tracks, "
          f"{discarded} discarded")


main()
