#!/usr/bin/env python3
"""Differential tester: ringtrace against babeltrace2 2.0.4 on random CTF
traces from ctfgen.py (see tests/diff/README.md).

  difftest.py run --ringtrace BIN (--seeds A-B[,C...] | --seconds N) [-j 2]
  difftest.py repro SEED --ringtrace BIN [--opts "--no-delta"] [--mutation M]
  difftest.py minimise SEED NAME --ringtrace BIN [--opts ...] [--mutation M]
  difftest.py replay --ringtrace BIN        (tests/diff/regress/*)

Per trace: `view` with option sets (both printers, RTR_PARALLEL=0/1):
stdout byte for byte, exit status, WARNING lines on stderr; `stats` event
count; `convert --format ctf` read back by babeltrace2; and mutations
(corrupted copies): a clean error or babeltrace2's output, never a
crash or hang, time and memory within a bound linear in the input size.
"""
import argparse
import hashlib
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import ctfgen  # noqa: E402

BT2 = shutil.which("babeltrace2") or "babeltrace2"
OPTION_SETS = [
    [],
    ["--clock-seconds"],
    ["--no-delta"],
    ["--names=all", "--fields=all"],
    ["--clock-gmt"],
    ["--clock-date"],
    ["--clock-cycles"],
    ["--names=none"],
    ["--fields=trace"],
    ["--names=header", "--no-delta"],
    ["--names=scope", "--fields=loglevel,emf"],
    ["--clock-gmt", "--clock-date", "--clock-seconds"],
    ["--fields=trace:domain,trace:procname", "--names=payload"],
    ["--names=context,scope", "--fields=callsite"],
]
TZS = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Paris"]
TIMEOUT = 20
SANITIZER = re.compile(rb"AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer|runtime error:")


# ---------------------------------------------------------------- children

class Result:
    def __init__(self, rc, out, err, cpu, rss, timed_out):
        self.rc, self.out, self.err = rc, out, err
        self.cpu, self.rss, self.timed_out = cpu, rss, timed_out

    def crashed(self):
        return self.timed_out or self.rc < 0 or self.rc >= 124 or SANITIZER.search(self.err) is not None

    def desc(self):
        if self.timed_out:
            return "timeout"
        if self.rc < 0:
            return "signal %d" % -self.rc
        return "exit %d" % self.rc


# Process groups of the children running now: each child has a session
# of its own (so that a time-out kills all it started), which also means
# it would outlive us if we were killed: the handler below takes them along.
LIVE = set()


def _die(signum, frame):
    for pg in list(LIVE):
        try:
            os.killpg(pg, signal.SIGKILL)
        except OSError:
            pass
    os._exit(128 + signum)


def run(argv, cwd, env=None, timeout=TIMEOUT, vlimit=None):
    """Runs ARGV; returns Result with the child's CPU time and peak RSS
    (KiB) from wait4()."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) is not _die:
            signal.signal(sig, _die)
    e = dict(os.environ)
    e.update(env or {})
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        def pre():
            os.setsid()
            if vlimit:
                resource.setrlimit(resource.RLIMIT_AS, (vlimit, vlimit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        p = subprocess.Popen(argv, cwd=cwd, env=e, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                             preexec_fn=pre)
        LIVE.add(p.pid)
        fired = []

        def kill():
            fired.append(1)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        t = threading.Timer(timeout, kill)
        t.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            t.cancel()
            try:
                os.killpg(p.pid, signal.SIGKILL)  # whatever it left behind
            except OSError:
                pass
            LIVE.discard(p.pid)
        p.returncode = 0     # reaped here
        rc = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        return Result(rc, fo.read(), fe.read(), ru.ru_utime + ru.ru_stime, ru.ru_maxrss, bool(fired))


def warnings(err, root):
    """babeltrace2's discarded-items notices (stderr), paths made relative."""
    out = []
    for line in err.split(b"\n"):
        if line.startswith(b"WARNING:"):
            out.append(line.replace(root.encode() + b"/", b""))
    return out


def dir_size(d):
    n = 0
    for base, _, files in os.walk(d):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(base, f))
            except OSError:
                pass
    return n


# ---------------------------------------------------------------- mutations

def mutate(tr, tdir, seed, k):
    """Corrupts a copy of a generated trace in place (TDIR). Returns a
    one-line description."""
    r = random.Random(seed * 1000003 + k)
    files = sorted(f for f in os.listdir(tdir) if f != "metadata" and not f.startswith(".")
                   and os.path.isfile(os.path.join(tdir, f)))
    what = r.choice(["flip", "flip", "flip_head", "truncate", "size", "size", "meta_garbage", "meta_nul",
                     "meta_trunc", "meta_dup", "meta_line", "zero_file", "swap"])
    if what.startswith("meta") or not files:
        path = os.path.join(tdir, "metadata")
        data = bytearray(open(path, "rb").read())
        if what == "meta_nul" and data:
            i = r.randrange(len(data))
            data[i:i] = b"\0"
        elif what == "meta_trunc" and data:
            del data[r.randrange(len(data)):]
        elif what == "meta_dup" and data:
            a = r.randrange(len(data))
            b = min(len(data), a + r.randint(1, 200))
            data[b:b] = data[a:b]
        elif what == "meta_line" and data:
            lines = data.split(b"\n")
            del lines[r.randrange(len(lines))]
            data = bytearray(b"\n".join(lines))
        else:
            what = "meta_garbage"
            if data:
                i = r.randrange(len(data))
                n = r.randint(1, 8)
                data[i:i + n] = bytes(r.getrandbits(8) for _ in range(n))
        open(path, "wb").write(bytes(data))
        return what
    f = r.choice(files)
    path = os.path.join(tdir, f)
    data = bytearray(open(path, "rb").read())
    if not data:
        return "none (empty file)"
    if what == "flip":
        for _ in range(r.randint(1, 8)):
            i = r.randrange(len(data) * 8)
            data[i // 8] ^= 1 << (i % 8)
    elif what == "flip_head":
        for _ in range(r.randint(1, 3)):
            i = r.randrange(min(len(data), 96) * 8)
            data[i // 8] ^= 1 << (i % 8)
    elif what == "truncate":
        del data[r.randrange(len(data)):]
    elif what == "size":
        # rewrite a content_size/packet_size field of the first packet
        pos = tr.size_fields.get(f)
        if pos:
            bitpos, size, bo = r.choice(pos)
            v = r.choice([0, 1, 8, 7, (1 << size) - 1, 1 << (size - 1), r.getrandbits(size),
                          len(data) * 8 + 8, len(data) * 8 - 8, r.randint(0, len(data) * 16)])
            w = ctfgen.BitWriter(r, False)
            w.buf = data
            w.put(bitpos, v, size, bo)
            data = w.buf
        else:
            what = "flip_head(nosize)"
            i = r.randrange(min(len(data), 64) * 8)
            data[i // 8] ^= 1 << (i % 8)
    elif what == "zero_file":
        data = bytearray(len(data))
    elif what == "swap":
        a, b = r.randrange(len(data)), r.randrange(len(data))
        n = r.randint(1, 16)
        data[a:a + n], data[b:b + n] = data[b:b + n], data[a:a + n]
    open(path, "wb").write(bytes(data))
    return "%s %s" % (what, f)


# hostile shapes (issue items 5, 6, 9) at small scale

def hostile(tdir, seed):
    r = random.Random(seed)
    kind = r.choice(["typealias_unused", "typealias_used", "typealias_huge", "enum_labels", "semis", "many_events",
                     "deep_struct"])
    os.makedirs(tdir, exist_ok=True)
    head = ("/* CTF 1.8 */\ntypealias integer { size = 8; align = 8; signed = false; } := u8;\n"
            "typealias integer { size = 32; align = 8; signed = false; } := u32;\n"
            "typealias integer { size = 64; align = 8; signed = false; } := u64;\n"
            "trace { major = 1; minor = 8; byte_order = le; packet.header := struct { u32 magic; }; };\n"
            "clock { name = c; };\n"
            "typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := clk;\n"
            "stream { packet.context := struct { u64 content_size; u64 packet_size; clk timestamp_begin; };"
            " event.header := struct { clk timestamp; }; };\n")
    body = b""
    nev = 0
    if kind.startswith("typealias"):
        # unused: nothing to decode; used: 4096 fields; huge: 2^32
        # fields in an event (a clean error is expected, in bounded time)
        depth = {"typealias_unused": 40, "typealias_used": 12, "typealias_huge": 32}[kind]
        md = head + "typealias struct { u8 a; } := t0;\n"
        for i in range(1, depth + 1):
            md += "typealias struct { t%d a; t%d b; } := t%d;\n" % (i - 1, i - 1, i)
        if kind == "typealias_huge":
            md += 'event { name = "e"; fields := struct { t%d x; }; };\n' % depth
            nev = 1
            body = (10).to_bytes(8, "little") + bytes(64)
        elif kind == "typealias_used":
            md += 'event { name = "e"; fields := struct { t%d x; }; };\n' % depth
            nev, ev = 3, bytes(range(256)) * ((1 << depth) // 256)
            body = b"".join((i * 10).to_bytes(8, "little") + ev for i in range(nev))
        else:
            md += 'event { name = "e"; fields := struct { u8 x; }; };\n'
            nev = 100
            body = b"".join((i * 10).to_bytes(8, "little") + bytes([i % 256]) for i in range(nev))
    elif kind == "enum_labels":
        n = 1024
        labs = ", ".join("L%d = %d" % (i, i) for i in range(n))
        md = head + 'event { name = "e"; fields := struct { enum : u32 { %s } x; }; };\n' % labs
        nev = 5000
        body = b"".join((i * 10).to_bytes(8, "little") + (i * 7 % (n + 5)).to_bytes(4, "little") for i in range(nev))
    elif kind == "semis":
        md = head + 'event { name = "e"; fields := struct { u8 x; }; };\n' + ";" * (8 << 20)
        nev = 10
        body = b"".join((i * 10).to_bytes(8, "little") + bytes([i]) for i in range(nev))
    elif kind == "many_events":
        md = head + "".join('event { name = "e%d"; id = %d; fields := struct { u8 x%d; u32 y; }; };\n' % (i, i, i)
                            for i in range(1)) + "".join(
            'event { name = "z%d"; id = %d; stream_id = 0; fields := struct { u8 x; }; };\n' % (i, i + 1)
            for i in range(40000))
        md = md.replace("event.header := struct { clk timestamp; }", "event.header := struct { u32 id; clk timestamp; }")
        nev = 10
        body = b"".join((0).to_bytes(4, "little") + (i * 10).to_bytes(8, "little") + bytes([i]) + (5).to_bytes(4, "little")
                        for i in range(nev))
    else:
        depth = 2000
        md = head + 'event { name = "e"; fields := %s u8 x; %s; };\n' % ("struct { " * depth, "} a; " * (depth - 1) + "}")
        nev = 10
        body = b"".join((i * 10).to_bytes(8, "little") + bytes([i]) for i in range(nev))
    hdr_len = 4 + 8 + 8 + 8
    total = hdr_len + len(body)
    pkt = (0xC1FC1FC1).to_bytes(4, "little") + (total * 8).to_bytes(8, "little") + (total * 8).to_bytes(8, "little") \
        + (0).to_bytes(8, "little") + body
    open(os.path.join(tdir, "metadata"), "w").write(md)
    open(os.path.join(tdir, "stream"), "wb").write(pkt)
    return kind


# ---------------------------------------------------------------- checks

class Case:
    """Outcome of one trace: a list of failures (class, detail, repro)."""

    def __init__(self, seed):
        self.seed = seed
        self.fails = []
        self.optsets = 0
        self.bt2_reject = False
        self.notes = []
        self.empty_strings = False

    def fail(self, cls, detail, opts=None, mutation=None):
        self.fails.append((cls, detail, opts, mutation))


def vlimit_for(bin_):
    data = open(bin_, "rb").read()
    if b"__asan_init" in data or b"__tsan_init" in data:
        return None
    return 4 << 30


def bound_ok(res, size):
    """Time and memory within a bound linear in the input (+ output) size."""
    t_lim = 1.0 + 1e-6 * size           # 1 s + 1 s per MB of CPU time
    rss_lim = 100 * 1024 + 16 * size // 1024    # KiB: 100 MiB + 16x the size
    return res.cpu <= t_lim and res.rss <= rss_lim, t_lim, rss_lim


def stream_data(tdir):
    out = []
    for f in sorted(os.listdir(tdir)):
        if f != "metadata" and os.path.isfile(os.path.join(tdir, f)):
            out.append(open(os.path.join(tdir, f), "rb").read())
    return b"\0".join(out)


def compare_view(case, rt, work, tname, opts, tz, bt, env_extra=None, mutation=None):
    """Runs ringtrace view with OPTS under both printers; compares with BT."""
    tdir = os.path.join(work, tname)
    size = dir_size(tdir)
    data = stream_data(tdir) if case.empty_strings else None
    for par in ("0", "1"):
        env = {"TZ": tz, "LC_ALL": "C", "RTR_PARALLEL": par}
        env.update(env_extra or {})
        res = run([rt, "view"] + opts + [tname], work, env, vlimit=case.vlimit)
        tag = "RTR_PARALLEL=%s" % par
        if res.crashed():
            case.fail("crash", "%s view %s: %s: %s" % (tag, " ".join(opts), res.desc(), tail(res.err)), opts, mutation)
            continue
        ok, tl, rl = bound_ok(res, size + len(bt.out))
        if not ok:
            case.fail("resource", "%s view: %.2f s (bound %.2f), %d KiB (bound %d) for %d bytes" % (
                tag, res.cpu, tl, res.rss, rl, size), opts, mutation)
        if bt.rc == 0:
            if res.rc != 0:
                if mutation is not None and res.rc == 1 and res.err.strip():
                    continue    # a clean error is fine on corrupted input
                case.fail("exit", "%s: babeltrace2 exit 0, ringtrace %s: %s" % (tag, res.desc(), tail(res.err)),
                          opts, mutation)
            elif res.out != bt.out and bt2_stale_equal(res.out, bt.out, data) < 0:
                case.fail("output", "%s: %s" % (tag, first_diff(bt.out, res.out)), opts, mutation)
            elif warnings(res.err, work) != warnings(bt.err, work):
                case.fail("warnings", "%s: stderr WARNING lines differ: bt2 %r rt %r" % (
                    tag, warnings(bt.err, work)[:2], warnings(res.err, work)[:2]), opts, mutation)
        else:
            if res.rc == 0:
                case.fail("accepts", "%s: babeltrace2 rejects (%s), ringtrace exit 0" % (tag, bt2_error(bt.err)),
                          opts, mutation)
            elif res.rc != 1 or not res.err.strip():
                case.fail("unclean", "%s: ringtrace %s without a message" % (tag, res.desc()), opts, mutation)
            elif not bt.out.startswith(res.out) and not stale_prefix(res.out, bt.out, data):
                case.fail("partial", "%s: output before the error is not a prefix of babeltrace2's: %s" % (
                    tag, first_diff(bt.out, res.out)), opts, mutation)


STRLIT = re.compile(rb'"(?:[^"\\]|\\.)*"')
# the end of the prefix: "NAME: " before the scopes without header names;
# with them "name = NAME, " (after ", " or, following trace:* fields,
# nothing: "trace:vpid = (12)name = ev, ")
SCOPES = re.compile(rb': (?=\{|stream\.|event\.)|name = .*?, (?=\{|stream\.|event\.)')


def split_line(line):
    """(prefix, fields) of a babeltrace2 line: the prefix (time, host,
    event name: free text) is compared as is, the fields token by token."""
    m = SCOPES.search(line)
    return (line[:m.end()], line[m.end():]) if m else (line, b"")


def unescape(lit):
    """The bytes of a string literal as babeltrace2 prints it."""
    s = lit[1:-1]
    simple = {b"\\": 92, b"'": 39, b'"': 34, b"?": 63, b"0": 0, b"a": 7, b"b": 8, b"e": 27,
              b"f": 12, b"n": 10, b"r": 13, b"t": 9, b"v": 11}
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == 92 and i + 1 < len(s):
            c = s[i + 1:i + 2]
            if c == b"x" and i + 3 < len(s) + 1:
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out.append(simple.get(c, c[0]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return bytes(out)


def bt2_stale_equal(rt_out, bt_out, data=None):
    """Number of babeltrace2 2.0.4 stale strings that explain every
    difference between RT_OUT (ringtrace) and BT_OUT (babeltrace2), or -1.
    babeltrace2 2.0.4 prints an empty string (or text sequence) as the
    value its reused string field held before (it does not clear it; fixed
    in 2.0.5 by commit d321ba031 "Fix: clear_string_field(): set first
    character to 0"), in event and packet contexts alike. A line may
    differ only in string literals where ringtrace prints "" and
    babeltrace2 a value printed earlier in its output (the rule of
    tests/integration/reader/bt2_known.py, not keyed by field names so
    that it holds under every --names option)."""
    la, lb = rt_out.split(b"\n"), bt_out.split(b"\n")
    if len(la) != len(lb):
        return -1
    seen = set()
    stale = 0
    for a, b in zip(la, lb):
        pb, fb = split_line(b)
        sb = STRLIT.findall(fb)
        if a != b:
            pa, fa = split_line(a)
            sa = STRLIT.findall(fa)
            if pa != pb or len(sa) != len(sb) or STRLIT.sub(b'""', fa) != STRLIT.sub(b'""', fb):
                return -1
            for x, y in zip(sa, sb):
                if x != y:
                    # a value printed before; in traces with empty strings
                    # (ctfgen k["empty"]) also one held by a packet or event
                    # that printed nothing, found in the stream files
                    if x != b'""' or (y not in seen and not (data and unescape(y) in data)):
                        return -1
                    stale += 1
        seen.update(sb)
    return stale


def stale_prefix(rt_out, bt_out, data=None):
    """RT_OUT (complete lines printed before an error) is the start of
    BT_OUT up to babeltrace2 2.0.4's stale strings (bt2_stale_equal())."""
    if not rt_out.endswith(b"\n"):
        return False
    n = rt_out.count(b"\n")
    lines = bt_out.split(b"\n")
    if len(lines) <= n:
        return False
    return bt2_stale_equal(rt_out, b"\n".join(lines[:n]) + b"\n", data) >= 0


def tail(b, n=200):
    s = b.decode("utf-8", "replace").strip().replace("\n", " | ")
    return s[-n:]


def bt2_error(err):
    """The innermost cause in babeltrace2's error report."""
    lines = [l.decode("utf-8", "replace") for l in err.split(b"\n")]
    e = [l for l in lines if re.match(r"^\S+ \S+ +\d+ +\d+ [EF] ", l)]
    if e:
        return re.sub(r"^.*?\] ", "", e[0])[:160]
    return tail(err, 160)


def first_diff(a, b):
    """Line number and context around the first byte where A (babeltrace2)
    and B (ringtrace) differ."""
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<EOF>"
        y = lb[i] if i < len(lb) else b"<EOF>"
        if x != y:
            k = 0
            while k < min(len(x), len(y)) and x[k] == y[k]:
                k += 1
            s = max(0, k - 120)
            return "line %d col %d: bt2 %r | rt %r" % (i + 1, k, x[s:k + 120], y[s:k + 120])
    return "same lines (trailing bytes differ)"


def check_seed(args):
    """Generates SEED's trace and runs every comparison chosen for it."""
    try:
        return check_seed1(args)
    except Exception as e:     # a bug of the tester is reported, not fatal
        import traceback
        case = Case(args[0])
        case.fail("tester", "%s: %s" % (type(e).__name__, traceback.format_exc()[-400:]))
        return case


def check_seed1(args):
    seed, cfg = args
    case = Case(seed)
    case.vlimit = cfg["vlimit"]
    rt = cfg["ringtrace"]
    r = random.Random(seed ^ 0xD1FF)
    base = tempfile.mkdtemp(prefix="difftest-%d-" % seed, dir=cfg.get("tmp"))
    try:
        work = os.path.join(base, "w")
        os.makedirs(work)
        tdir = os.path.join(work, "trace")
        try:
            tr = ctfgen.generate(seed, tdir, cfg.get("shape"), cfg.get("shrink"))
            case.empty_strings = tr.g.k["empty"]
        except Exception as e:  # a generator bug is a failure of the tester
            case.fail("generator", "%s: %s" % (type(e).__name__, e))
            return case
        tz = TZS[seed % len(TZS)] if cfg.get("tz") is None else cfg["tz"]
        if cfg.get("opts") is not None:
            sets = [cfg["opts"]]
        else:
            n = cfg.get("nopts", 2)
            if n == 1:      # rotation: one option set per trace
                sets = [OPTION_SETS[seed % len(OPTION_SETS)]]
            else:
                sets = [[]] + [OPTION_SETS[1 + (seed * 7 + i * 3) % (len(OPTION_SETS) - 1)] for i in range(n - 1)]
        ref = None
        for opts in sets:
            bt = run([BT2] + opts + ["trace"], work, {"TZ": tz, "LC_ALL": "C"})
            if opts == []:
                ref = bt
            if bt.crashed():
                case.notes.append("babeltrace2 %s on %s" % (bt.desc(), " ".join(opts) or "default"))
                case.bt2_reject = True
                continue        # nothing to compare with
            case.bt2_reject = case.bt2_reject or bt.rc != 0
            case.optsets += 1
            if cfg.get("mutation") is None and cfg.get("only") in (None, "view"):
                compare_view(case, rt, work, "trace", opts, tz, bt)
        only = cfg.get("only")
        if ref is None:     # the default options give stats/convert their reference
            ref = run([BT2, "trace"], work, {"TZ": tz, "LC_ALL": "C"})
        if cfg.get("mutation") is None and ref is not None and not ref.crashed():
            if only in (None, "stats"):
                check_stats(case, rt, work, tz, ref)
            if only == "convert" or (only is None and (cfg.get("convert") or (cfg.get("convert") is None and seed % 4 == 0))):
                check_convert(case, rt, work, tz, ref)
        # mutations
        muts = [cfg["mutation"]] if cfg.get("mutation") is not None else \
            list(range(cfg.get("mutations", 0))) if r.random() < cfg.get("mutation_rate", 0.0) else []
        for k in muts:
            mdir = os.path.join(work, "mut%d" % k)
            shutil.copytree(tdir, mdir)
            what = mutate(tr, mdir, seed, k)
            bt = run([BT2, "mut%d" % k], work, {"TZ": tz, "LC_ALL": "C"}, timeout=10)
            if bt.crashed():
                case.notes.append("babeltrace2 %s on mutation %d (%s)" % (bt.desc(), k, what))
                bt.rc = 1       # compare as a rejection
                bt.out = b""
            compare_view(case, rt, work, "mut%d" % k, [], tz, bt, mutation=k)
            st = run([rt, "stats", "mut%d" % k], work, {"TZ": tz}, vlimit=case.vlimit)
            if st.crashed():
                case.fail("crash", "stats on mutation %d (%s): %s: %s" % (k, what, st.desc(), tail(st.err)),
                          None, k)
            for i, f in enumerate(case.fails):
                if f[3] == k and "(" not in f[1][:1]:
                    case.fails[i] = (f[0], "[%s] %s" % (what, f[1]), f[2], f[3])
            shutil.rmtree(mdir, ignore_errors=True)
        if cfg.get("hostile"):
            check_hostile(case, rt, work, seed)
        if case.fails and cfg.get("keep"):
            dst = os.path.join(cfg["keep"], str(seed))
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(tdir, dst)
        return case
    finally:
        shutil.rmtree(base, ignore_errors=True)


def check_stats(case, rt, work, tz, bt):
    res = run([rt, "stats", "trace"], work, {"TZ": tz, "LC_ALL": "C"}, vlimit=case.vlimit)
    if res.crashed():
        case.fail("crash", "stats: %s: %s" % (res.desc(), tail(res.err)), ["stats"])
        return
    if bt.rc != 0:
        if res.rc == 0:
            case.fail("accepts", "stats: babeltrace2 rejects (%s), ringtrace stats exit 0" % bt2_error(bt.err), ["stats"])
        return
    if res.rc != 0:
        case.fail("exit", "stats: %s: %s" % (res.desc(), tail(res.err)), ["stats"])
        return
    m = re.search(rb"^Events\s+(\d+)", res.out, re.M)
    n = bt.out.count(b"\n")
    if not m or int(m.group(1)) != n:
        case.fail("stats", "stats counts %s events, babeltrace2 printed %d" % (m.group(1).decode() if m else "?", n),
                  ["stats"])


def check_convert(case, rt, work, tz, bt):
    if bt.rc != 0:
        return
    out = os.path.join(work, "conv")
    res = run([rt, "convert", "--format", "ctf", "trace", "-o", "conv"], work, {"TZ": tz}, vlimit=case.vlimit)
    if res.crashed() or res.rc != 0:
        case.fail("convert", "convert: %s: %s" % (res.desc(), tail(res.err)), ["convert"])
        return
    b2 = run([BT2, "conv"], work, {"TZ": tz, "LC_ALL": "C"})
    if b2.rc != 0:
        case.fail("convert", "babeltrace2 rejects the copy: %s" % bt2_error(b2.err), ["convert"])
    elif b2.out != bt.out:
        # the copy as babeltrace2 reads it, against what the original
        # holds (ringtrace's view, itself checked against babeltrace2 up
        # to babeltrace2's stale strings)
        rv = run([rt, "view", "trace"], work, {"TZ": tz, "LC_ALL": "C"}, vlimit=case.vlimit)
        data = stream_data(os.path.join(work, "conv")) if case.empty_strings else None
        if rv.rc != 0 or (rv.out != b2.out and bt2_stale_equal(rv.out, b2.out, data) < 0):
            case.fail("convert", "babeltrace2 prints the copy differently: %s" % first_diff(bt.out, b2.out),
                      ["convert"])
    shutil.rmtree(out, ignore_errors=True)


def check_hostile(case, rt, work, seed):
    hdir = os.path.join(work, "hostile")
    kind = hostile(hdir, seed)
    size = dir_size(hdir)
    for cmd in (["view"], ["stats"]):
        res = run([rt] + cmd + ["hostile"], work, {"RTR_PARALLEL": "1"}, vlimit=case.vlimit, timeout=10)
        if res.timed_out:   # over any bound, whatever the load of the machine
            case.fail("resource", "hostile %s, %s: no result after 10 s (%.2f s CPU), %d bytes in" % (
                kind, cmd[0], res.cpu, size), ["hostile"])
            continue
        if res.crashed():
            case.fail("crash", "hostile %s, %s: %s: %s" % (kind, cmd[0], res.desc(), tail(res.err)), ["hostile"])
            continue
        outsz = len(res.out) if cmd == ["view"] else 0
        ok, tl, rl = bound_ok(res, size + outsz)
        if not ok:
            case.fail("resource", "hostile %s, %s: %.2f s (bound %.2f), %d KiB (bound %d), %d bytes in, exit %d" % (
                kind, cmd[0], res.cpu, tl, res.rss, rl, size, res.rc), ["hostile"])
        elif res.rc not in (0, 1) or (res.rc == 1 and not res.err.strip()):
            case.fail("unclean", "hostile %s, %s: %s" % (kind, cmd[0], res.desc()), ["hostile"])
    shutil.rmtree(hdir, ignore_errors=True)


# ---------------------------------------------------------------- commands

def parse_seeds(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def repro_line(seed, f, rt):
    cls, detail, opts, mut = f
    cmd = "python3 tests/diff/difftest.py repro %d --ringtrace %s" % (seed, rt)
    if opts and opts not in (["stats"], ["convert"], ["hostile"]):
        cmd += " --opts='%s'" % " ".join(opts)
    elif opts:
        cmd += " --check %s" % opts[0]
    if mut is not None:
        cmd += " --mutation %d" % mut
    return cmd


def cmd_run(a):
    rt = os.path.abspath(a.ringtrace)
    cfg = {"ringtrace": rt, "vlimit": vlimit_for(rt), "nopts": a.nopts, "mutations": a.mutations,
           "mutation_rate": a.mutation_rate, "keep": a.keep, "tmp": a.tmp, "shape": a.shape,
           "hostile": False}
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    t0 = time.time()
    if a.seeds:
        seeds = parse_seeds(a.seeds)
        print("difftest: seeds %s (%d traces), %d jobs" % (a.seeds, len(seeds), a.jobs), flush=True)
        it = iter(seeds)
    else:
        start = a.start if a.start is not None else random.SystemRandom().randrange(1 << 40)
        print("difftest: random seeds from %d for %d s, %d jobs" % (start, a.seconds, a.jobs), flush=True)

        def gen():
            s = start
            while time.time() - t0 < a.seconds:
                yield s
                s += 1
        it = gen()
    known = {}
    if a.known and os.path.exists(a.known):
        for line in open(a.known):
            line = line.split("#")[0].split()
            if len(line) >= 2:
                known.setdefault(int(line[0]), set()).add(line[1])
    counts = {"traces": 0, "optsets": 0, "mismatch_traces": 0, "bt2_reject": 0, "mutations": 0, "hostile": 0}
    known_hit = []
    fixed = []
    new_known = []
    classes = {}
    failing = []

    def tasks():
        for s in it:
            c = dict(cfg)
            c["hostile"] = a.hostile_every and s % a.hostile_every == 0
            yield (s, c)
    def stop(signum, frame):  # leaving the with block terminates the workers,
        raise SystemExit(128 + signum)  # whose handler kills their children
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    with multiprocessing.Pool(a.jobs) as pool:
        for case in pool.imap_unordered(check_seed, tasks(), chunksize=1):
            counts["traces"] += 1
            counts["optsets"] += case.optsets
            counts["bt2_reject"] += case.bt2_reject
            for cls in sorted(set(f[0] for f in case.fails)):
                new_known.append("%d %s" % (case.seed, cls))
            if case.seed in known:
                got = set(f[0] for f in case.fails)
                if got - known[case.seed]:
                    pass        # a new class on a known seed: reported below
                else:
                    if case.fails:
                        known_hit.append(case.seed)
                    if known[case.seed] - got:
                        fixed.append("%d %s" % (case.seed, ",".join(sorted(known[case.seed] - got))))
                    case.fails = []
            if case.fails:
                counts["mismatch_traces"] += 1
                failing.append(case.seed)
                for f in case.fails:
                    classes.setdefault(f[0], []).append(case.seed)
                    if not a.quiet or len(classes[f[0]]) <= 3:
                        print("FAIL seed %d [%s] %s\n  repro: %s" % (case.seed, f[0], f[1][:600],
                                                                      repro_line(case.seed, f, a.ringtrace)), flush=True)
            if a.verbose:
                print("ok   seed %d (%d option sets)%s" % (case.seed, case.optsets,
                                                            " bt2 rejects" if case.bt2_reject else ""), flush=True)
    el = time.time() - t0
    print("BENCH difftest_traces %d traces" % counts["traces"])
    print("BENCH difftest_option_sets %d runs" % counts["optsets"])
    print("BENCH difftest_mismatches %d traces" % counts["mismatch_traces"])
    print("BENCH difftest_bt2_rejects %d traces" % counts["bt2_reject"])
    print("BENCH difftest_seconds %.1f s" % el)
    for cls, seeds in sorted(classes.items()):
        print("class %-10s %5d failures, seeds: %s" % (cls, len(seeds), " ".join(map(str, sorted(set(seeds))[:40]))))
    if failing:
        print("failing seeds: %s" % ",".join(map(str, sorted(failing))))
    if known_hit:
        print("WARNING: %d traces fail as listed in %s (known defects, not counted): %s" % (
            len(known_hit), a.known, ",".join(map(str, sorted(known_hit)[:50]))))
    if fixed:
        print("NOTE: %d known failures pass now (remove them from %s): %s" % (len(fixed), a.known, "; ".join(fixed[:50])))
    if a.write_known:
        with open(a.write_known, "w") as f:
            f.write("# seed class: failures of difftest.py run --seeds ... known when this list was written\n")
            f.write("# (regenerate with --write-known after a fix or a generator change)\n")
            for line in sorted(new_known, key=lambda s: (int(s.split()[0]), s)):
                f.write(line + "\n")
        print("wrote %d known failures to %s" % (len(new_known), a.write_known))
    return 1 if failing else 0


def cmd_repro(a):
    rt = os.path.abspath(a.ringtrace)
    cfg = {"ringtrace": rt, "vlimit": vlimit_for(rt), "opts": a.opts.split() if a.opts is not None else None,
           "nopts": 3, "mutation": a.mutation, "keep": a.keep, "shape": a.shape, "convert": a.check == "convert",
           "hostile": a.check == "hostile", "tz": a.tz}
    case = check_seed((a.seed, cfg))
    for f in case.fails:
        print("FAIL [%s] %s" % (f[0], f[1]))
    for n in case.notes:
        print("note: %s" % n)
    if not case.fails:
        print("seed %d: no mismatch (%d option sets%s)" % (a.seed, case.optsets,
                                                           ", babeltrace2 rejects" if case.bt2_reject else ""))
    if a.keep:
        print("trace kept in %s/%d" % (a.keep, a.seed))
    return 1 if case.fails else 0


# ---------------------------------------------------------------- minimiser

def cmd_minimise(a):
    """Shrinks SEED's trace while the failure persists; saves it as
    tests/diff/regress/NAME."""
    rt = os.path.abspath(a.ringtrace)
    only = a.check or "view"
    cfg = {"ringtrace": rt, "vlimit": vlimit_for(rt), "opts": a.opts.split() if a.opts is not None else [],
           "mutation": a.mutation, "shape": a.shape, "only": only, "tz": a.tz or "UTC", "convert": only == "convert"}
    seed = a.seed
    first = check_seed((seed, dict(cfg)))
    if not first.fails:
        print("seed %d: no failure with these options" % seed)
        return 1
    cls = a.cls or first.fails[0][0]
    key = signature(first.fails, cls)
    print("minimising seed %d, class %s: %s" % (seed, cls, key[:200]), flush=True)
    tries = [0]

    def failing(shrink):
        tries[0] += 1
        c = check_seed((seed, dict(cfg, shrink=shrink)))
        return any(f[0] == cls for f in c.fails) and signature(c.fails, cls) == key

    tr = ctfgen.Trace(seed, a.shape)
    shrink = {}
    # streams, packets, events
    streams = [st["inst"] for st in tr.plan]
    keep = list(range(len(tr.plan)))
    for i in list(keep):
        cand = [k for k in keep if k != i]
        if failing(dict(shrink, streams=set(cand))):
            keep = cand
    shrink["streams"] = set(keep)
    pk = [(tr.plan[i]["inst"], j) for i in keep for j in range(len(tr.plan[i]["packets"]))]
    pk = ddmin(pk, lambda c: failing(dict(shrink, packets=set(c))))
    shrink["packets"] = set(pk)
    evs = [(tr.plan[i]["inst"], p["seed"], k) for i in keep for j, p in enumerate(tr.plan[i]["packets"])
           if (tr.plan[i]["inst"], j) in shrink["packets"] for k in range(len(p["events"]))]
    evs = ddmin(evs, lambda c: failing(dict(shrink, events=set(c))))
    shrink["events"] = set(evs)
    for flag in ("plain", "classes", "noenv", "noextra"):
        if failing(dict(shrink, **{flag: True})):
            shrink[flag] = True
    # event classes one by one
    drop_ec = []
    t2 = ctfgen.Trace(seed, a.shape, shrink)
    for sc in t2.scs:
        for ec in sc["evs"]:
            cand = drop_ec + [(sc["id"], ec["id"])]
            if failing(dict(shrink, drop_ec=cand)):
                drop_ec = cand
    shrink["drop_ec"] = drop_ec
    # struct members
    drops = []
    tried = set()
    changed = True
    while changed and tries[0] < a.max_tries:
        changed = False
        t2 = ctfgen.Trace(seed, a.shape, dict(shrink, members=drops))
        structs = [t for t in ctfgen.all_types(t2) if t.kind == "struct"]
        refs = set()
        for t in ctfgen.all_types(t2):
            o = getattr(t, "lenobj", None) or getattr(t, "tagobj", None)
            if o is not None:
                refs.add(id(o))
        for idx in range(len(structs) - 1, -1, -1):
            for name, m in reversed(structs[idx].members):
                if m.role or id(m) in refs or name in tried:
                    continue
                tried.add(name)
                cand = drops + [(idx, name)]
                if tries[0] < a.max_tries and failing(dict(shrink, members=cand)):
                    drops = cand
                    changed = True
            if changed:
                break
    shrink["members"] = drops
    print("minimised in %d runs" % tries[0], flush=True)
    return save_case(a, seed, cfg, shrink, cls)


def signature(fails, cls):
    """What must stay the same while shrinking: the class, and for a
    rejection babeltrace2's error."""
    for f in fails:
        if f[0] == cls:
            d = f[1]
            if cls == "accepts":
                m = re.search(r"rejects \((.*?)\)", d)
                return re.sub(r"0x[0-9a-f]+|\d+", "N", m.group(1) if m else "")
            if cls == "exit":
                return re.sub(r"0x[0-9a-f]+|\d+|'[^']*'", "N", d.split(": ", 2)[-1])[:60]
            return cls
    return ""


def ddmin(items, test):
    """Smallest sublist of ITEMS (greedy chunk removal) keeping TEST true."""
    n = 2
    while len(items) >= 1:
        chunk = max(1, len(items) // n)
        removed = False
        for i in range(0, len(items), chunk):
            cand = items[:i] + items[i + chunk:]
            if test(cand):
                items = cand
                removed = True
                break
        if not removed:
            if chunk == 1:
                break
            n = min(len(items), n * 2)
    return items


def save_case(a, seed, cfg, shrink, cls):
    name = a.name
    dst = os.path.join(HERE, "regress", name)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    tdir = os.path.join(dst, "trace")
    ctfgen.generate(seed, tdir, a.shape, shrink)
    if cfg.get("mutation") is not None:
        tr = ctfgen.Trace(seed, a.shape, shrink)
        mutate(tr, tdir, seed, cfg["mutation"])
    opts = cfg["opts"]
    bt = run([BT2] + opts + ["trace"], dst, {"TZ": cfg["tz"], "LC_ALL": "C"})
    with open(os.path.join(dst, "expected.txt"), "wb") as f:
        f.write(bt.out if bt.rc == 0 else b"REJECT\n")
    w = warnings(bt.err, dst) if bt.rc == 0 else []
    if w:
        with open(os.path.join(dst, "expected-warnings.txt"), "wb") as f:
            f.write(b"".join(x + b"\n" for x in w))
    with open(os.path.join(dst, "case"), "w") as f:
        f.write("seed=%d\nclass=%s\ncheck=%s\nopts=%s\ntz=%s\n" % (seed, cls, cfg["only"], " ".join(opts), cfg["tz"]))
        if cfg.get("mutation") is not None:
            f.write("mutation=%d\n" % cfg["mutation"])
        f.write("shrink=%r\n" % ({k: sorted(v) if isinstance(v, set) else v for k, v in shrink.items()},))
    with open(os.path.join(dst, "README"), "w") as f:
        f.write((a.why or "seed %d, %s mismatch against babeltrace2 2.0.4" % (seed, cls)) + "\n")
    print("saved %s (%d bytes)" % (dst, dir_size(dst)))
    return 0


# ---------------------------------------------------------------- replay

def read_case(d):
    kv = {}
    for line in open(os.path.join(d, "case")):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            kv[k] = v
    return kv


def cmd_replay(a):
    """Replays tests/diff/regress/*: each case's expected.txt is
    babeltrace2's output (or the spec's, see its README), or REJECT."""
    rt = os.path.abspath(a.ringtrace)
    vl = vlimit_for(rt)
    root = os.path.join(HERE, "regress")
    known = set()
    kf = os.path.join(root, "KNOWN_FAILING")
    if os.path.exists(kf):
        for line in open(kf):
            line = line.split("#")[0].strip()
            if line:
                known.add(line)
    npass = nfail = nskip = 0
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        kv = read_case(d)
        opts = kv.get("opts", "").split()
        exp = open(os.path.join(d, "expected.txt"), "rb").read()
        check = kv.get("check", "view")
        env = {"TZ": kv.get("tz", "UTC"), "LC_ALL": "C"}
        if kv.get("expect") == "bt2-live":
            # babeltrace2's answer depends on the directory's readdir()
            # order (packets of one stream that begin at the same time in
            # two files), which differs between file systems and clones:
            # expected.txt is one machine's answer; compare with
            # babeltrace2's answer on this copy
            b = run([BT2] + opts + ["trace"], d, dict(env))
            if b.rc != 0:
                nfail += 1
                print("FAIL %-40s babeltrace2 fails on this case: %s" % (name, tail(b.err, 200)))
                continue
            exp = b.out
        bad = []
        for par in ("0", "1"):
            env["RTR_PARALLEL"] = par
            if check == "stats":
                res = run([rt, "stats", "trace"], d, env, vlimit=vl)
            else:
                res = run([rt, "view"] + opts + ["trace"], d, env, vlimit=vl)
            if res.crashed():
                bad.append("%s %s" % (check, res.desc()))
            elif exp == b"REJECT\n":
                if res.rc != 1 or not res.err.strip():
                    bad.append("expected a clean error, got %s" % res.desc())
            elif res.rc != 0:
                bad.append("%s: %s" % (res.desc(), tail(res.err, 160)))
            elif check == "stats":
                m = re.search(rb"^Events\s+(\d+)", res.out, re.M)
                if not m or int(m.group(1)) != exp.count(b"\n"):
                    bad.append("stats counts %s events, expected %d" % (m.group(1) if m else "?", exp.count(b"\n")))
            elif res.out != exp and (kv.get("class") == "bt2-wrong" or bt2_stale_equal(res.out, exp) < 0):
                bad.append("RTR_PARALLEL=%s: %s" % (par, first_diff(exp, res.out)))
            elif check == "view":
                wf = os.path.join(d, "expected-warnings.txt")
                want = open(wf, "rb").read().split(b"\n")[:-1] if os.path.exists(wf) else []
                got = warnings(res.err, d)
                if got != want:
                    bad.append("RTR_PARALLEL=%s: WARNING lines differ: expected %r, got %r" % (par, want[:1], got[:1]))
        if bad and name in known:
            nskip += 1
            print("KNOWN-FAILING %-40s (listed in regress/KNOWN_FAILING; still fails: %s)" % (name, bad[0][:150]))
        elif bad:
            nfail += 1
            print("FAIL %-40s %s" % (name, bad[0][:300]))
        else:
            npass += 1
            print("PASS %-40s%s" % (name, "  (listed in KNOWN_FAILING but passes now: remove it)" if name in known else ""))
    print("regress: %d passed, %d failed, %d known failing (skipped)" % (npass, nfail, nskip))
    if nskip:
        print("WARNING: %d regression case(s) skipped as known failing; see tests/diff/regress/KNOWN_FAILING" % nskip)
    return 1 if nfail else 0


def main():
    ap = argparse.ArgumentParser(description="differential tester: ringtrace vs babeltrace2")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--ringtrace", required=True)
    p.add_argument("--seeds")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--start", type=int)
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--nopts", type=int, default=2, help="option sets per trace (default first)")
    p.add_argument("--mutations", type=int, default=2)
    p.add_argument("--mutation-rate", type=float, default=0.1)
    p.add_argument("--hostile-every", type=int, default=0)
    p.add_argument("--keep", help="copy failing traces here")
    p.add_argument("--tmp")
    p.add_argument("--shape", choices=ctfgen.SHAPES)
    p.add_argument("-q", "--quiet", action="store_true", help="print 3 failures per class")
    p.add_argument("--known", help="file of 'seed class' failures not counted (known defects)")
    p.add_argument("--write-known", help="write this run's failures as a --known file")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("repro")
    p.add_argument("seed", type=int)
    p.add_argument("--ringtrace", required=True)
    p.add_argument("--opts")
    p.add_argument("--check", choices=["stats", "convert", "hostile"])
    p.add_argument("--mutation", type=int)
    p.add_argument("--keep")
    p.add_argument("--shape", choices=ctfgen.SHAPES)
    p.add_argument("--tz")
    p = sub.add_parser("minimise")
    p.add_argument("seed", type=int)
    p.add_argument("name")
    p.add_argument("--ringtrace", required=True)
    p.add_argument("--opts")
    p.add_argument("--check", choices=["view", "stats", "convert"])
    p.add_argument("--mutation", type=int)
    p.add_argument("--shape", choices=ctfgen.SHAPES)
    p.add_argument("--tz")
    p.add_argument("--cls", help="failure class to keep (default: the first one)")
    p.add_argument("--why", help="README line")
    p.add_argument("--max-tries", type=int, default=400)
    p = sub.add_parser("replay")
    p.add_argument("--ringtrace", required=True)
    a = ap.parse_args()
    if a.cmd == "minimise":
        return cmd_minimise(a)
    if a.cmd == "replay":
        return cmd_replay(a)
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "repro":
        return cmd_repro(a)


if __name__ == "__main__":
    sys.exit(main())
