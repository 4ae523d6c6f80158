#!/usr/bin/env python3
"""Comparison of `ringtrace view` with babeltrace2 2.0.4 that allows for the
one babeltrace2 2.0.4 defect that changes its text output: an empty string
(or text sequence) is printed as the value that the same field of the same
event class had in an earlier event, because babeltrace2 reuses the event's
string field without clearing its buffer (fixed in babeltrace2 2.0.5 by
commit d321ba031 "Fix: clear_string_field(): set first character to 0").
ringtrace prints what the trace holds (""), as the CTF spec says.

A difference is accepted only where ringtrace prints "" and babeltrace2
prints a value that this field already had earlier in its output; every
other difference is reported.
Usage: bt2_known.py RINGTRACE_OUT BT2_OUT  (exit 0 when equal up to that)"""
import re
import sys

FIELD = re.compile(rb'(\w+) = "((?:[^"\\]|\\.)*)"')
NAME = re.compile(rb'^\[[^\]]*\] \([^)]*\) (?:\S+ )*?([\w.:-]+): ')


def compare(ours, theirs):
    """Returns (stale strings explained, list of unexplained line numbers)."""
    seen = {}  # (event name, field) -> values printed so far
    stale, bad = 0, []
    if len(ours) != len(theirs):
        bad.append(min(len(ours), len(theirs)) + 1)
    for n, (a, b) in enumerate(zip(ours, theirs), 1):
        m = NAME.match(b)
        ev = m.group(1) if m else b""
        fa, fb = FIELD.findall(a), FIELD.findall(b)
        if a != b:
            fixed = b
            if len(fa) == len(fb):
                for (na, va), (nb, vb) in zip(fa, fb):
                    if na == nb and va == b"" and vb != b"" and vb in seen.get((ev, nb), ()):
                        fixed = fixed.replace(b'%s = "%s"' % (nb, vb), b'%s = ""' % nb, 1)
                        stale += 1
            if fixed != a:
                bad.append(n)
        for nb, vb in fb:
            seen.setdefault((ev, nb), set()).add(vb)
    return stale, bad


def main():
    with open(sys.argv[1], "rb") as f:
        ours = f.read().split(b"\n")
    with open(sys.argv[2], "rb") as f:
        theirs = f.read().split(b"\n")
    stale, bad = compare(ours, theirs)
    if bad:
        for n in bad[:5]:
            print("line %d differs:\n  ringtrace:   %r\n  babeltrace2: %r" %
                  (n, ours[n - 1][:300] if n <= len(ours) else b"<none>",
                   theirs[n - 1][:300] if n <= len(theirs) else b"<none>"))
        return 1
    if stale:
        print("equal but for %d empty string(s) babeltrace2 2.0.4 printed stale" % stale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
