#!/usr/bin/env python3
"""Small CTF 1.8 traces for the reader's hostile-input and regression tests
(tests/integration/reader/hostile.sh). Each trace is written from its
values, so the tests know what a correct reader prints.
Usage: mktraces.py OUTDIR KIND [ARGS...]"""
import os
import struct
import sys
import uuid as uuidlib

HDR = """/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
trace { major = 1; minor = 8; byte_order = le; %(uuid)s
  packet.header := struct { uint32_t magic; %(uuidf)s uint32_t stream_id; }; };
env { hostname = "h"; };
clock { name = c; freq = 1000000000; };
typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := clk_t;
stream { id = 0;
  packet.context := struct { uint64_t content_size; uint64_t packet_size;
                             clk_t timestamp_begin; clk_t timestamp_end; };
  event.header := struct { uint32_t id; clk_t timestamp; }; };
"""


def metadata(events, trace_uuid=None):
    u = 'uuid = "%s";' % trace_uuid if trace_uuid else ""
    uf = "uint8_t uuid[16];" if trace_uuid else ""
    return HDR % {"uuid": u, "uuidf": uf} + "".join(events)


def packet(events_bytes, ts0, ts1, pkt_uuid=None):
    """events_bytes: the already encoded events of the packet."""
    head = struct.pack("<I", 0xC1FC1FC1) + (pkt_uuid or b"") + struct.pack("<I", 0)
    body = b"".join(events_bytes)
    size = len(head) + 32 + len(body)
    ctx = struct.pack("<QQQQ", size * 8, size * 8, ts0, ts1)
    return head + ctx + body


def write(d, md, streams):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "metadata"), "w") as f:
        f.write(md)
    for name, data in streams.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def ev(eid, ts, payload=b""):
    return struct.pack("<IQ", eid, ts) + payload


def kind_uuid_mismatch(d):
    """Packet headers carrying a UUID other than the trace's: babeltrace2
    2.0.4 reads every event."""
    tu = uuidlib.UUID("2a6422d0-6cee-11e0-8c08-cb07d7b3a564")
    other = uuidlib.UUID("00112233-4455-6677-8899-aabbccddeeff").bytes
    md = metadata(['event { name = "e"; id = 0; stream_id = 0; '
                   'fields := struct { uint32_t x; }; };\n'], str(tu))
    data = b""
    for p in range(3):
        evs = [ev(0, 1000 * p + i, struct.pack("<I", 100 * p + i)) for i in range(4)]
        data += packet(evs, 1000 * p, 1000 * p + 3, tu.bytes if p == 0 else other)
    write(d, md, {"stream_0": data})


def kind_strings(d):
    """Strings and text sequences of every shape, empty ones after
    non-empty ones of the same event class (where babeltrace2 2.0.4 prints
    the stale previous value: fixed in 2.0.5), invalid UTF-8, surrogates,
    controls, quotes, a long string."""
    md = metadata([
        'event { name = "s"; id = 0; stream_id = 0; fields := struct { string s; }; };\n',
        'event { name = "q"; id = 1; stream_id = 0; fields := struct { uint8_t la; '
        'integer { size = 8; align = 8; signed = false; encoding = UTF8; } a[la]; '
        'uint8_t lb; integer { size = 8; align = 8; signed = false; encoding = UTF8; } '
        'b[lb]; }; };\n'])
    values = [b"hello", b"/usr/lib/x86_64-linux-gnu/libc.so.6", b"", b"x" * 128,
              b"a\xff\xc3b\x80", b"", b"\xed\xa0\x80 surrogate", b"\xf4\x90\x80\x80 big",
              b"\xc0\xaf overlong", b'quote " back \\ tab \t nl \n bell \x07', b"",
              "caf\u00e9 \u20ac \U0001F600".encode(), b"y" * 5000, b""]
    evs, ts = [], 0
    for v in values:
        evs.append(ev(0, ts, v + b"\0"))
        ts += 1
    for a, b in [(b"", b"abcd"), (b"xy", b"abcd"), (b"", b"abcd"), (b"\xff\xfe", b"")]:
        evs.append(ev(1, ts, bytes([len(a)]) + a + bytes([len(b)]) + b))
        ts += 1
    write(d, md, {"stream_0": packet(evs, 0, ts)})


def kind_many_streams(d, n):
    """n stream files of one event each (more than a small fd limit)."""
    md = metadata(['event { name = "e"; id = 0; stream_id = 0; '
                   'fields := struct { uint32_t x; }; };\n'])
    streams = {}
    for i in range(n):
        streams["stream_%05d" % i] = packet([ev(0, i, struct.pack("<I", i))], i, i)
    write(d, md, streams)


def kind_big(d, packets):
    """packets x 65536 events of one uint32 (about 1 MiB a packet)."""
    md = metadata(['event { name = "e"; id = 0; stream_id = 0; '
                   'fields := struct { uint32_t x; }; };\n'])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "metadata"), "w") as f:
        f.write(md)
    n = 65536
    with open(os.path.join(d, "stream_0"), "wb") as f:
        for p in range(packets):
            base = p * n
            body = b"".join(struct.pack("<IQI", 0, base + i, i) for i in range(n))
            size = 8 + 32 + len(body)
            f.write(struct.pack("<II", 0xC1FC1FC1, 0) +
                    struct.pack("<QQQQ", size * 8, size * 8, base, base + n - 1) + body)


def kind_typealias_exp(d, levels):
    """Each typealias a struct of two copies of the previous one."""
    t = ["typealias struct { uint8_t a; uint8_t b; } := t0;\n"]
    for i in range(1, levels + 1):
        t.append("typealias struct { t%d a; t%d b; } := t%d;\n" % (i - 1, i - 1, i))
    md = metadata(t + ['event { name = "e"; id = 0; stream_id = 0; '
                       'fields := struct { t%d x; }; };\n' % levels])
    write(d, md, {"stream_0": packet([ev(0, 0, b"\0\0")], 0, 0)})


def kind_enum_labels(d, labels, events):
    """One enum of many labels, many events."""
    lab = ", ".join("a%d" % i for i in range(labels))
    md = metadata(['event { name = "e"; id = 0; stream_id = 0; fields := struct { '
                   'enum : uint32_t { %s } x; }; };\n' % lab])
    evs = [ev(0, i, struct.pack("<I", (i * 7919) % (labels + 10))) for i in range(events)]
    write(d, md, {"stream_0": packet(evs, 0, events)})


def kind_semicolons(d, mib):
    """A metadata text of ';' (a syntax error at the first one)."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "metadata"), "w") as f:
        f.write("/* CTF 1.8 */\n")
        chunk = ";" * (1 << 20)
        for _ in range(mib):
            f.write(chunk)
    open(os.path.join(d, "stream_0"), "wb").close()


def main():
    d, kind, args = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]
    globals()["kind_" + kind](d, *args)


if __name__ == "__main__":
    main()
