#!/usr/bin/env python3
"""Writes a CTF 1.8 trace for debuginfo.sh: a statedump naming binaries,
then one event per byte address of each binary's .text (and a little
before and after), so that babeltrace2 and `ringtrace view --debug-info`
resolve every kind of address: function entries, the middle of functions,
inlined code, padding, rows of the line table and addresses between
them. See docs/design/debuginfo.md.

    sweep.py OUT_DIR BASE STEP BINARY[:DEBUG_FILE] ...

Each binary is placed at BASE + i * 0x1000000 (PIC); a DEBUG_FILE gives
a debug_link event (its name and CRC-32), as LTTng-UST writes for a
binary with a .gnu_debuglink section. STEP > 1 takes one address in
STEP (large binaries).
"""
import os
import re
import struct
import subprocess
import sys
import zlib

META = """/* CTF 1.8 */
typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 32; align = 8; signed = true; } := int32_t;
typealias integer { size = 64; align = 8; signed = false; base = 16; } := uint64_t;
typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := ts64;
clock { name = c; freq = 1000000000; offset_s = 1700000000; };
trace { major = 1; minor = 8; byte_order = le; };
env { hostname = "sweep"; };
stream {
	event.header := struct { uint8_t id; ts64 timestamp; };
	event.context := struct { int32_t _vpid; uint64_t _ip; };
};
event { id = 0; name = "lttng_ust_statedump:start"; fields := struct { uint8_t x; }; };
event { id = 1; name = "lttng_ust_statedump:bin_info"; fields := struct { uint64_t _baddr;
	uint64_t _memsz; string _path; uint8_t _is_pic; uint8_t _has_build_id;
	uint8_t _has_debug_link; }; };
event { id = 2; name = "lttng_ust_statedump:build_id"; fields := struct { uint64_t _baddr;
	uint64_t _build_id_length; uint8_t _build_id[_build_id_length]; }; };
event { id = 3; name = "lttng_ust_statedump:debug_link"; fields := struct { uint64_t _baddr;
	uint32_t _crc; string _filename; }; };
event { id = 4; name = "p:at"; fields := struct { uint8_t x; }; };
"""

VPID = 4242


def readelf(args, path):
    return subprocess.run(["readelf"] + args + [path], check=True, capture_output=True,
                          text=True).stdout


def layout(path):
    """(memsz of the PT_LOAD span, [(text addr, size)], build id bytes)"""
    lo, hi = None, 0
    for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+"
                         r"(0x[0-9a-f]+)\s+(0x[0-9a-f]+)", readelf(["-lW"], path), re.M):
        va, msz = int(m.group(2), 16), int(m.group(5), 16)
        lo = va if lo is None else min(lo, va)
        hi = max(hi, va + msz)
    texts = []
    for m in re.finditer(r"\]\s+(\.text|\.init|\.fini|\.plt\S*)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+"
                         r"([0-9a-f]+)", readelf(["-SW"], path)):
        texts.append((int(m.group(2), 16), int(m.group(3), 16)))
    bid = re.search(r"Build ID: ([0-9a-f]+)", readelf(["-n"], path))
    return hi - (lo or 0), texts, bytes.fromhex(bid.group(1)) if bid else b""


def main():
    out, base, step = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    ts = [1000]
    data = bytearray()

    def head(eid, ip=0):
        ts[0] += 7
        data.extend(struct.pack("<BQiQ", eid, ts[0], VPID, ip))

    head(0)
    data.append(0)
    bins = []
    for i, arg in enumerate(sys.argv[4:]):
        path, _, dbg = arg.partition(":")
        memsz, texts, bid = layout(path)
        baddr = base + i * 0x1000000
        bins.append((baddr, texts))
        head(1)
        data.extend(struct.pack("<QQ", baddr, memsz) + path.encode() + b"\0")
        data.extend(bytes([1, 1 if bid else 0, 1 if dbg else 0]))
        if bid:
            head(2)
            data.extend(struct.pack("<QQ", baddr, len(bid)) + bid)
        if dbg:
            with open(dbg, "rb") as f:
                crc = zlib.crc32(f.read()) & 0xFFFFFFFF
            head(3)
            data.extend(struct.pack("<QI", baddr, crc) + os.path.basename(dbg).encode() + b"\0")
    for baddr, texts in bins:
        for addr, size in texts:
            for a in range(max(0, addr - 8), addr + size + 8, step):
                head(4, baddr + a)
                data.append(0)
    with open(os.path.join(out, "metadata"), "w") as f:
        f.write(META)
    with open(os.path.join(out, "stream"), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
