#!/usr/bin/env python3
"""Runs a command (the test suite) as a child subreaper: every process the
tests start and leave behind (daemons included, however often they fork)
becomes our child instead of init's. When the command has ended, any such
process still alive is a test that did not stop what it started: it is
named, killed, and the run fails.
Usage: reap.py COMMAND [ARGS...]"""
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children():
    """(pid, command line) of our live children, zombies reaped."""
    me, out = os.getpid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) != me:
                continue
            if fields[0] == "Z":
                os.waitpid(int(d), os.WNOHANG)
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out.append((int(d), cmd))
        except (OSError, ValueError, IndexError):
            pass
    return out


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("reap.py: cannot become a subreaper; leftover processes go unchecked",
              file=sys.stderr)
    rc = subprocess.call(sys.argv[1:])
    time.sleep(0.5)  # let processes that are on their way out finish
    left = children()
    if left:
        print("\nreap.py: the tests left %d process(es) running (a test must stop "
              "what it starts, also when it fails):" % len(left))
        for pid, cmd in left:
            print("  pid %d: %s" % (pid, cmd[:200]))
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, _ in left:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            time.sleep(1)
        children()
        return rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
