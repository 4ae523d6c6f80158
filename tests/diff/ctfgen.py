#!/usr/bin/env python3
"""Seeded generator of random, valid CTF 1.8 traces (metadata + streams).

One seed gives one trace, byte for byte (random.Random with integer seeds
and the calls used here is stable across Python 3 versions). The traces
cover CTF 1.8 as the spec and babeltrace2 2.0.4 read it, not the subset our
writer emits; tests/diff/README.md lists what is and is not covered.

    ctfgen.py SEED OUTDIR [--shape NAME] [--shrink SPEC]

Used as a module by difftest.py: generate(seed, outdir, shape, shrink).

Design: a trace is a tree of type objects (Int, Enum, Float, Str, Struct,
Variant, Array, Seq). A sequence or variant points at its length/tag type
*object*; that object is never shared, so while the packet writer walks the
tree, "the last value written for that object" is the value the reader's
path lookup finds. The TSDL text is a separate rendering of the same tree
(inline, typealias, typedef or named struct/enum), with relative paths
(same scope) or absolute ones (earlier scopes, or the scope's own root).
"""
import os
import random
import struct as pystruct
import sys

KEYWORDS = ["align", "callsite", "const", "char", "clock", "double", "enum", "env",
            "event", "floating_point", "float", "integer", "int", "long", "short",
            "signed", "stream", "string", "struct", "trace", "typealias", "typedef",
            "unsigned", "variant", "void"]
BASES = {2: ["2", "b", "binary"], 8: ["8", "o", "oct", "octal"],
         10: ["10", "d", "i", "u", "dec", "decimal"],
         16: ["16", "x", "X", "p", "hex", "hexadecimal"]}
SHAPES = ["simple", "full", "deep", "text", "headers", "wide", "big"]


# ---------------------------------------------------------------- types

class T:
    alias = None        # TSDL name to emit instead of the body (declared once)
    role = None         # value generation hint: 'len', 'tag', 'clock', 'fixed'


class Int(T):
    kind = "int"

    def __init__(self, size, signed=False, align=None, bo=None, base=None, enc=None, clock=None):
        self.size, self.signed, self.align, self.bo = size, signed, align, bo
        self.base, self.enc, self.clock = base, enc, clock
        self.maxlen = None

    def al(self):
        return self.align or (8 if self.size % 8 == 0 else 1)

    def attrs(self):
        return (self.size, self.signed, self.align, self.bo, self.base, self.enc, self.clock)


class Enum(T):
    kind = "enum"

    def __init__(self, cont, maps):
        self.cont = cont        # Int
        self.maps = maps        # [(label, lo, hi, form)] form: value|range|implicit
        self.tag = False

    def al(self):
        return self.cont.al()


class Float(T):
    kind = "float"

    def __init__(self, mant, exp, align=None, bo=None):
        self.mant, self.exp, self.align, self.bo = mant, exp, align, bo
        self.size = mant + exp

    def al(self):
        return self.align or (8 if self.size % 8 == 0 else 1)


class Str(T):
    kind = "string"

    def __init__(self, enc=None):
        self.enc = enc
        self.long = False

    def al(self):
        return 8


class Struct(T):
    kind = "struct"

    def __init__(self, members, min_align=None):
        self.members = members  # [(name, type)]
        self.min_align = min_align

    def al(self):
        a = self.min_align or 1
        for _, t in self.members:
            a = max(a, t.al())
        return a


class Variant(T):
    kind = "variant"

    def __init__(self, tagpath, tagobj, opts):
        self.tagpath, self.tagobj, self.opts = tagpath, tagobj, opts  # opts [(name, type)]

    def al(self):
        return 1


class Array(T):
    kind = "array"

    def __init__(self, elem, length):
        self.elem, self.length = elem, length

    def al(self):
        return self.elem.al()


class Seq(T):
    kind = "seq"

    def __init__(self, elem, lenpath, lenobj):
        self.elem, self.lenpath, self.lenobj = elem, lenpath, lenobj

    def al(self):
        return self.elem.al()


def is_text_elem(e):
    if e.kind == "enum":
        e = e.cont
    return e.kind == "int" and e.size == 8 and e.al() == 8 and e.enc in ("UTF8", "ASCII")


def walk(t):
    yield t
    if t.kind == "struct":
        for _, m in t.members:
            yield from walk(m)
    elif t.kind == "variant":
        for _, m in t.opts:
            yield from walk(m)
    elif t.kind in ("array", "seq"):
        yield from walk(t.elem)
    elif t.kind == "enum":
        yield from walk(t.cont)


# ---------------------------------------------------------------- bits

class BitWriter:
    """Packet bytes written at bit granularity (CTF 1.8 section 4.1.5):
    little endian fills each byte from its least significant bit, big
    endian from its most significant bit."""

    def __init__(self, rng, garbage):
        self.buf = bytearray()
        self.pos = 0
        self.rng = rng
        self.garbage = garbage

    def _ensure(self, nbits):
        need = (nbits + 7) // 8
        if len(self.buf) < need:
            self.buf.extend(bytes(need - len(self.buf)))

    def put(self, pos, value, size, bo):
        """Writes SIZE bits of VALUE at bit POS (self.pos unchanged)."""
        end = pos + size
        self._ensure(end)
        mask = (1 << size) - 1
        value &= mask
        b0, b1 = pos >> 3, (end + 7) >> 3
        order = "little" if bo == "le" else "big"
        if pos & 7 == 0 and size & 7 == 0:
            self.buf[b0:b1] = value.to_bytes(b1 - b0, order)
            return
        cur = int.from_bytes(self.buf[b0:b1], order)
        sh = (pos & 7) if bo == "le" else (b1 - b0) * 8 - (pos & 7) - size
        cur = (cur & ~(mask << sh)) | (value << sh)
        self.buf[b0:b1] = cur.to_bytes(b1 - b0, order)

    def bits(self, value, size, bo):
        self.put(self.pos, value, size, bo)
        self.pos += size

    def align(self, a, bo):
        n = (-self.pos) % a
        if n:
            self.bits(self.rng.getrandbits(n) if self.garbage else 0, n, bo)

    def raw(self, data):
        self._ensure(self.pos + 8 * len(data))
        p = self.pos // 8
        self.buf[p:p + len(data)] = data
        self.pos += 8 * len(data)


# ---------------------------------------------------------------- TSDL text

def tsdl_string(rng, s, escapes):
    """A TSDL string literal for the bytes S (decoded value == S)."""
    out = ['"']
    i = 0
    while i < len(s):
        c = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else None
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif c < 0x20 or c == 0x7F or (escapes and rng.random() < 0.15):
            simple = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v",
                      0x27: "\\'", 0x3F: "\\?"}
            x = rng.random()
            if c in simple and x < 0.5:
                out.append(simple[c])
            elif x < 0.75 and c < 0x100:
                # octal: 3 digits, or fewer when the next char is not a digit
                o = "%o" % c
                if nxt is None or not (0x30 <= nxt <= 0x37):
                    out.append("\\" + o)
                else:
                    out.append("\\%03o" % c)
            else:
                # hexadecimal: exactly 2 digits, never followed by a hex digit
                if nxt is not None and chr(nxt) in "0123456789abcdefABCDEF":
                    out.append("\\%03o" % c)
                else:
                    out.append("\\x%02x" % c if rng.random() < 0.5 else "\\x%02X" % c)
        elif c >= 0x80 and escapes:
            out.append("\\x%02x" % c if nxt is None or chr(nxt) not in "0123456789abcdefABCDEF" else "\\%03o" % c)
        else:
            out.append(chr(c))
        i += 1
    out.append('"')
    return "".join(out)


class Tsdl:
    """Renders types as TSDL; root-level declarations are collected."""

    def __init__(self, g):
        self.g = g
        self.r = g.r
        self.decls = []         # root declarations, in order of first use
        self.declared = {}      # alias name -> rendered body

    def boolean(self, v):
        return self.r.choice(["true", "TRUE", "1"] if v else ["false", "FALSE", "0"])

    def int_body(self, t):
        r = self.r
        parts = ["size = %d" % t.size]
        if t.signed or r.random() < 0.5:
            parts.append("signed = %s" % self.boolean(t.signed))
        if t.align is not None:
            parts.append("align = %d" % t.align)
        if t.bo is not None:
            parts.append("byte_order = %s" % t.bo)
        if t.base is not None:
            parts.append("base = %s" % r.choice(BASES[t.base]))
        if t.enc is not None:
            parts.append("encoding = %s" % t.enc)
        if t.clock is not None:
            parts.append("map = clock.%s.value" % t.clock)
        r.shuffle(parts)
        return "integer { %s; }" % "; ".join(parts)

    def declare(self, name, body_fn):
        if name not in self.declared:
            body = body_fn()
            self.declared[name] = body
            self.decls.append(body)

    def typ(self, t, ind):
        """Type specifier text of T (arrays/sequences are declarators)."""
        if t.alias is not None:
            name = t.alias
            self.declare(name, lambda: self.alias_decl(t, name))
            return name
        return self.body(t, ind)

    def alias_decl(self, t, name):
        saved, t.alias = t.alias, None
        form = getattr(t, "alias_form", "typealias")
        try:
            if t.kind == "struct" and form == "named":
                return "%s%s;" % (name, self.body(t, "")[len("struct"):])
            if form == "typedef":
                return "typedef %s %s;" % (self.body(t, ""), name)
            return "typealias %s := %s;" % (self.body(t, ""), name)
        finally:
            t.alias = saved

    def body(self, t, ind, named=False):
        r = self.r
        k = t.kind
        if k == "int":
            return self.int_body(t)
        if k == "float":
            parts = ["exp_dig = %d" % t.exp, "mant_dig = %d" % t.mant]
            if t.align is not None:
                parts.append("align = %d" % t.align)
            if t.bo is not None:
                parts.append("byte_order = %s" % t.bo)
            r.shuffle(parts)
            return "floating_point { %s; }" % "; ".join(parts)
        if k == "string":
            if t.enc is None:
                return "string" if r.random() < 0.5 else "string { }"
            return "string { encoding = %s; }" % t.enc
        if k == "enum":
            items = []
            for lab, lo, hi, form in t.maps:
                ltxt = lab if is_ident(lab) and lab not in KEYWORDS and r.random() < 0.7 else tsdl_string(r, lab.encode(), False)
                if form == "implicit":
                    items.append(ltxt)
                elif form == "range":
                    items.append("%s = %s ... %s" % (ltxt, lit(r, lo), lit(r, hi)))
                else:
                    items.append("%s = %s" % (ltxt, lit(r, lo)))
            return "enum : %s { %s%s }" % (self.typ(t.cont, ind), ", ".join(items), "," if r.random() < 0.2 else "") \
                if not named else ": %s { %s }" % (self.typ(t.cont, ind), ", ".join(items))
        if k == "struct":
            inner = ind + "\t"
            lines = [inner + self.field(n, m, inner) for n, m in t.members]
            al = " align(%d)" % t.min_align if t.min_align else ""
            return "struct {\n%s\n%s}%s" % ("\n".join(lines), ind, al) if lines else "struct { }%s" % al
        if k == "variant":
            inner = ind + "\t"
            lines = [inner + self.field(n, m, inner) for n, m in t.opts]
            return "variant <%s> {\n%s\n%s}" % (t.tagpath, "\n".join(lines), ind)
        if k in ("array", "seq"):
            # an array used as a type specifier (alias of an array): typedef form only
            raise ValueError("array body")
        raise ValueError(k)

    def field(self, name, t, ind):
        dims = []
        while t.kind in ("array", "seq") and t.alias is None:
            dims.append("[%s]" % (t.length if t.kind == "array" else t.lenpath))
            t = t.elem
        return "%s %s%s;" % (self.typ(t, ind), name, "".join(dims))


def is_ident(s):
    return s and (s[0].isalpha() and s[0].isascii() or s[0] == "_") and all(
        c.isascii() and (c.isalnum() or c == "_") for c in s)


def lit(r, v):
    if v < 0:
        return "-%d" % -v if r.random() < 0.8 else "-0x%x" % -v
    x = r.random()
    if x < 0.7 or v == 0:
        return "%d" % v
    if x < 0.9:
        return "0x%x" % v if r.random() < 0.5 else "0X%X" % v
    return "0%o" % v


# ---------------------------------------------------------------- the generator

class Scope:
    """A dynamic scope being built: its TSDL prefix and the fields of
    earlier scopes a sequence/variant may name with an absolute path."""

    def __init__(self, prefix, outer, nodyn=False):
        self.prefix = prefix
        # babeltrace2 2.0.4 aborts (ctf-meta-update-value-storing-indexes.c:65,
        # `tgt_fc`) on a sequence or variant in an event's own context
        self.nodyn = nodyn
        self.outer = outer      # [(abs path, obj)] visible from here
        self.exports = []       # (abs path, obj) of this scope, for later ones


class Gen:
    def __init__(self, seed, shape=None):
        self.seed = seed
        self.r = random.Random(seed)
        r = self.r
        self.shape = shape or r.choice(["simple", "simple", "full", "full", "full", "full",
                                        "full", "deep", "text", "headers", "wide", "big"])
        self.nid = 0
        self.bo = r.choice(["le", "be"])
        self.garbage = r.random() < 0.6
        full = self.shape != "simple"
        self.k = {
            "depth": {"simple": 1, "deep": 6, "wide": 2}.get(self.shape, r.randint(1, 4)),
            "nfields": {"simple": 4, "deep": 3, "wide": 24}.get(self.shape, r.randint(1, 7)),
            "bitpack": full and r.random() < 0.6,
            "otherbo": full and r.random() < 0.4,
            "seq": full and r.random() < 0.8,
            "variant": full and r.random() < 0.7,
            "float": r.random() < 0.6,
            "strings": r.random() < 0.85,
            "alias": r.random() < 0.6,
            "longstr": self.shape != "big" and r.random() < 0.08,
            "text": self.shape == "text" or (full and r.random() < 0.5),
            "absolute": full and r.random() < 0.5,
            "escapes": r.random() < 0.5,
        }
        # empty strings and empty text arrays/sequences only in 30% of the
        # traces (own random stream): babeltrace2 2.0.4 prints an empty
        # string as the stale value its reused field held before (fixed in
        # 2.0.5), which difftest.py then has to allow for; elsewhere any ""
        # ringtrace prints is a defect
        self.k["empty"] = random.Random(seed ^ 0xE117).random() < 0.3
        self.aliases = {}       # int attrs -> alias name (shared declarations)

    # -------------------------------------------------------- names

    def uid(self):
        self.nid += 1
        return self.nid

    def fname(self):
        n = self.uid()
        x = self.r.random()
        if x < 0.1:
            return "_f%d" % n
        if x < 0.14:
            return "_%s%d" % (self.r.choice(KEYWORDS), n)
        return "f%d" % n

    # -------------------------------------------------------- leaves

    def bo_attr(self, size, align):
        """Byte order: another one than the trace's only for byte-aligned,
        whole-byte fields (babeltrace2 rejects a change inside a byte)."""
        r = self.r
        if self.k["otherbo"] and size % 8 == 0 and align >= 8 and r.random() < 0.35:
            return r.choice(["le", "be", "network", "native"])
        return r.choice([None, None, None, "native", self.bo])

    def eff_bo(self, bo):
        if bo in (None, "native"):
            return self.bo
        return "be" if bo == "network" else bo

    def new_int(self, size=None, signed=None, bp=None, role=None):
        r = self.r
        bp = self.k["bitpack"] if bp is None else bp
        if size is None:
            size = r.randint(1, 64) if bp and r.random() < 0.5 else r.choice([8, 16, 32, 64, 8, 32])
        if signed is None:
            signed = r.random() < 0.4
        if bp:
            align = r.choice([None, None, 1, 1, 2, 4, 8, 16, 32, 64])
        else:
            align = r.choice([None, None, 8, 8, 16, 32, 64]) if size % 8 == 0 else None
        eff = align or (8 if size % 8 == 0 else 1)
        base = r.choice([None, None, None, 2, 8, 10, 16, 16])
        enc = r.choice([None] * 6 + ["none", "UTF8", "ASCII"])
        t = Int(size, signed, align, self.bo_attr(size, eff), base, enc)
        t.role = role
        if self.k["alias"] and r.random() < 0.4:
            self.name_int(t)
        return t

    def name_int(self, t):
        key = t.attrs()
        if key not in self.aliases:
            self.aliases[key] = "%s%d_%s" % (
                "s" if t.signed else "u", t.size, self.uid()) if self.r.random() < 0.8 else "my int %d" % self.uid()
        t.alias = self.aliases[key]
        # multi-word aliases are only valid via typealias
        if " " in t.alias:
            t.alias = t.alias.replace(" ", "_")
            self.aliases[key] = t.alias

    def new_enum(self, tag=False, nlabels=None):
        r = self.r
        signed = False if tag else r.random() < 0.4
        size = r.choice([2, 3, 5, 8, 12, 16, 32, 63, 64]) if self.k["bitpack"] else r.choice([8, 8, 16, 32, 64])
        if tag:
            size = max(size, 4)
        if signed and size < 2:
            size = 2
        cont = self.new_int(size=size, signed=signed)
        cont.enc = None
        if cont.alias:
            cont.alias = None
            self.name_int(cont)
        lo_lim = -(1 << (size - 1)) if signed else 0
        hi_lim = (1 << (size - 1)) - 1 if signed else (1 << size) - 1
        n = nlabels or r.randint(1, 6)
        maps = []
        labels = set()
        nxt = 0     # implicit value of the next enumerator
        for _ in range(n):
            lab = self.label(tag, labels)
            labels.add(lab)
            if tag:
                if nxt > hi_lim:
                    break
                if maps and r.random() < 0.3:
                    lo = hi = nxt
                    form = "implicit"
                else:
                    lo = min(hi_lim, nxt + r.choice([0, 0, 1, 4]))
                    hi = min(hi_lim, lo + r.choice([0, 0, 1, 3]))
                    form = "range" if lo != hi or r.random() < 0.3 else "value"
            else:
                x = r.random()
                if maps and x < 0.3 and nxt <= hi_lim:
                    lo = hi = nxt
                    form = "implicit"
                elif x < 0.6:
                    lo = r.randint(lo_lim, hi_lim) if r.random() < 0.5 else max(lo_lim, min(hi_lim, r.randint(-3, 12)))
                    hi = min(hi_lim, lo + r.choice([0, 1, 2, 10, 1000]))
                    form = "range" if lo != hi or r.random() < 0.3 else "value"
                else:
                    # overlap an earlier range
                    if maps and r.random() < 0.5:
                        _, plo, phi, _ = r.choice(maps)
                        lo = r.randint(plo, phi)
                    else:
                        lo = r.randint(lo_lim, hi_lim)
                    hi = lo if r.random() < 0.5 else min(hi_lim, lo + r.randint(0, 5))
                    form = "range" if lo != hi else "value"
            maps.append((lab, lo, hi, form))
            nxt = hi + 1
        e = Enum(cont, maps)
        e.tag = tag
        return e

    def label(self, ident, used):
        r = self.r
        while True:
            n = self.uid()
            if ident:
                # no leading underscore: babeltrace2 2.0.4 aborts
                # (ctf-meta-translate.c:317, `mapping`) on such an option
                lab = r.choice(["L%d", "opt%d", "Lx%d"]) % n
            else:
                lab = r.choice(["L%d", "_L%d", "A %d", "q\"%d", "b\\s%d", "\u00e9%d", "a.b%d", "%d", "t\t%d"]) % n
            if lab not in used:
                return lab

    def new_float(self):
        r = self.r
        mant, exp = r.choice([(24, 8), (53, 11)])
        align = r.choice([None, 1, 8, 16, 32]) if self.k["bitpack"] else r.choice([None, None, 8, 32, 64])
        return Float(mant, exp, align, self.bo_attr(mant + exp, align or 8))

    def text_elem(self):
        r = self.r
        e = Int(8, r.random() < 0.3, r.choice([None, 8]), r.choice([None, None, "be", "le"]),
                r.choice([None, None, 16, 2]), r.choice(["UTF8", "ASCII"]))
        if self.k["alias"] and r.random() < 0.3:
            self.name_int(e)
        return e

    def leaf(self, frames, scope):
        r = self.r
        x = r.random()
        if x < 0.42:
            return self.new_int()
        if x < 0.57:
            return self.new_enum()
        if x < 0.69 and self.k["float"]:
            return self.new_float()
        if x < 0.88 and self.k["strings"]:
            s = Str(r.choice([None, None, None, "UTF8", "ASCII"]))
            s.long = self.k["longstr"] and r.random() < 0.2
            return s
        if self.k["text"]:
            if r.random() < 0.5 and self.k["seq"] and not scope.nodyn:
                return self.new_seq(self.text_elem(), frames, scope, maxlen=r.choice([4, 16, 40, 200]))
            return Array(self.text_elem(), r.choice([0, 1, 4, 16, 33, 128] if self.k["empty"] else [1, 4, 16, 33, 128]))
        return self.new_int()

    # -------------------------------------------------------- compounds

    def struct(self, depth, scope, frames, n=None):
        """FRAMES: [(members list, name in its parent or None, via)] of the
        structs enclosing the one built here; via is 'struct' when the
        chain up to the scope root is struct members only."""
        r = self.r
        members = []
        me = (members, None)
        frames = frames + [me]
        n = r.randint(0, self.k["nfields"]) if n is None else n
        for _ in range(n):
            name = self.fname()
            me_named = (members, name)
            t = self.typ(depth, scope, frames, name)
            members.append((name, t))
        st = Struct(members, r.choice([None] * 8 + [8, 16, 32, 64]))
        return st

    def typ(self, depth, scope, frames, name):
        r = self.r
        x = r.random()
        if depth <= 0 or x < 0.45:
            return self.leaf(frames, scope)
        if x < 0.6:
            st = self.struct(depth - 1, scope, self.child_frames(frames, name), r.randint(0, 4))
            self.maybe_alias_struct(st)
            return st
        if x < 0.72:
            return Array(self.elem(depth, scope, frames, name), r.choice([0, 1, 2, 3, 5]))
        if x < 0.86 and self.k["seq"] and not scope.nodyn:
            return self.new_seq(self.elem(depth, scope, frames, name), frames, scope)
        if self.k["variant"] and not scope.nodyn:
            return self.new_variant(depth, scope, frames, name)
        return self.leaf(frames, scope)

    def child_frames(self, frames, name):
        """Frames seen from inside member NAME of the innermost struct."""
        members, _ = frames[-1]
        f = list(frames)
        f[-1] = (members, name)
        return f

    def elem(self, depth, scope, frames, name):
        r = self.r
        if r.random() < 0.25 and self.k["text"]:
            return self.text_elem()
        x = r.random()
        inner = [(m, None) for m, _ in frames]     # no absolute path through arrays
        inner[-1] = (frames[-1][0], None)
        if depth <= 1 or x < 0.5:
            return self.leaf(inner, scope)
        if x < 0.8:
            st = self.struct(depth - 1, scope, inner, r.randint(0, 3))
            self.maybe_alias_struct(st)
            return st
        if x < 0.9 or scope.nodyn:
            return Array(self.leaf(inner, scope), r.choice([0, 1, 2, 3]))
        return self.new_variant(depth - 1, scope, inner, None)

    def maybe_alias_struct(self, st):
        """Name a self-contained struct (no path leaving it) sometimes."""
        r = self.r
        if not self.k["alias"] or r.random() > 0.25:
            return
        inside = set(id(x) for x in walk(st))
        for x in walk(st):
            ref = getattr(x, "lenobj", None) or getattr(x, "tagobj", None)
            path = getattr(x, "lenpath", None) or getattr(x, "tagpath", "")
            # babeltrace2 2.0.4 cannot resolve a relative path naming an
            # escaped (_x) field inside a typealias'd struct: not generated
            if ref is not None and (id(ref) not in inside or "." in path or path.startswith("_")):
                return
        n = self.uid()
        form = r.choice(["typealias", "typedef", "named"])
        st.alias_form = form
        st.alias = ("struct s%d" % n) if form == "named" else "st%d" % n

    # -------------------------------------------------------- references

    def place_ref(self, frames, scope, make):
        """Finds or makes the length/tag field of a sequence/variant being
        added to the innermost struct of FRAMES. MAKE() makes a new target
        object. Returns (path text, object)."""
        r = self.r
        x = r.random()
        kind = "tag" if make == self.make_tag else "len"
        # an earlier scope's field (absolute path); babeltrace2 2.0.4's
        # grammar takes a single identifier as variant tag (the spec allows
        # paths there too), so tags are relative names only
        cands = [(p, o) for p, o in scope.outer if o.role == kind]
        if cands and self.k["absolute"] and x < 0.25 and kind == "len":
            p, o = r.choice(cands)
            return p, o
        # an existing earlier field of an enclosing struct (relative path)
        if x < 0.45:
            vis = []
            for members, _ in frames:
                for n, o in members:
                    if o.role == kind:
                        vis.append((n, o))
                    elif o.kind == "struct" and o.alias is None and kind == "len":
                        # nested path s.n
                        for n2, o2 in o.members:
                            if o2.role == kind:
                                vis.append((n + "." + n2, o2))
            if vis:
                return r.choice(vis)
        # a new field in the innermost struct, or in an enclosing one
        k = len(frames) - 1
        if len(frames) > 1 and r.random() < 0.3:
            k = r.randint(0, len(frames) - 1)
        members = frames[k][0]
        name = self.fname()
        o = make()
        members.append((name, o))
        path = name
        # absolute form when the chain from the scope root is named structs
        if self.k["absolute"] and r.random() < 0.3 and kind == "len":
            chain = [fr[1] for fr in frames[:k]]
            if all(c is not None for c in chain):
                path = ".".join([scope.prefix] + chain + [name])
        return path, o

    def make_len(self):
        r = self.r
        size = r.choice([8, 8, 16, 32, 64, 5, 7, 13]) if self.k["bitpack"] else r.choice([8, 16, 32, 64])
        t = self.new_int(size=size, signed=False)
        t.role = "len"
        t.maxlen = 1 << 30
        return t

    def make_tag(self):
        e = self.new_enum(tag=True, nlabels=self.r.randint(1, 4))
        e.role = "tag"
        return e

    def new_seq(self, elem, frames, scope, maxlen=None):
        path, o = self.place_ref(frames, scope, self.make_len)
        if is_text_elem(elem) and not self.k["empty"]:
            o.nonzero = True        # no empty text (see k["empty"])
        o.maxlen = min(o.maxlen, maxlen if maxlen is not None else self.r.choice([0, 1, 2, 3, 5, 8]),
                       (1 << o.size) - 1)
        return Seq(elem, path, o)

    def new_variant(self, depth, scope, frames, name):
        r = self.r
        path, tag = self.place_ref(frames, scope, self.make_tag)
        opts = []
        sub = self.child_frames(frames, name) if name else frames
        for lab, _, _, _ in tag.maps:
            if r.random() < 0.6 and depth > 0:
                o = self.struct(depth - 1, scope, [(m, None) for m, _ in sub], r.randint(0, 3))
            else:
                o = self.leaf([(m, None) for m, _ in sub], scope)
            opts.append((lab, o))
        r.shuffle(opts)
        return Variant(path, tag, opts)

    # -------------------------------------------------------- scopes

    def scope_struct(self, scope, n=None, depth=None):
        st = self.struct(self.k["depth"] if depth is None else depth, scope, [], n)
        for name, o in st.members:
            if o.role in ("len", "tag"):
                scope.exports.append((scope.prefix + "." + name, o))
            elif o.kind == "struct" and o.alias is None:
                for n2, o2 in o.members:
                    if o2.role in ("len", "tag"):
                        scope.exports.append((scope.prefix + "." + name + "." + n2, o2))
        return st

    def export_fields(self, scope, st):
        """Adds a few length fields to a scope for later scopes."""
        r = self.r
        for _ in range(r.randint(0, 2)):
            o = self.make_len()
            if o.role == "len":
                o.maxlen = min((1 << o.size) - 1, r.choice([0, 1, 3, 6]))
            name = self.fname()
            st.members.insert(r.randint(0, len(st.members)), (name, o))
            scope.exports.append((scope.prefix + "." + name, o))


# ---------------------------------------------------------------- values

def interesting_uint(r, size):
    m = (1 << size) - 1
    x = r.random()
    if x < 0.15:
        return 0
    if x < 0.3:
        return m
    if x < 0.4:
        return min(m, 1)
    if x < 0.5:
        return m >> 1
    if x < 0.6:
        return (m >> 1) + 1 if size > 1 else 1
    if x < 0.7:
        return min(m, r.randint(0, 300))
    return r.getrandbits(size)


class Values:
    """Generates and writes field values; remembers the last value of each
    length/tag object."""

    def __init__(self, g, w, rng):
        self.g = g
        self.r = rng
        self.w = w
        self.last = {}

    def write(self, t, forced=None):
        k = t.kind
        w, r, g = self.w, self.r, self.g
        if k == "int":
            bo = g.eff_bo(t.bo)
            w.align(t.al(), bo)
            if forced is not None:
                v = forced
            elif t.role == "len":
                lo = 1 if getattr(t, "nonzero", False) else 0
                v = r.randint(lo, max(lo, t.maxlen)) if r.random() < 0.8 else max(lo, min(t.maxlen, 1))
            else:
                v = interesting_uint(r, t.size)
            w.bits(v, t.size, bo)
            self.last[id(t)] = v & ((1 << t.size) - 1)
            return v
        if k == "enum":
            c = t.cont
            if forced is not None:
                v = forced
            elif t.tag:
                lab, lo, hi, _ = r.choice(t.maps)
                v = r.randint(lo, hi)
            else:
                x = r.random()
                if x < 0.75 and t.maps:
                    lab, lo, hi, _ = r.choice(t.maps)
                    v = r.choice([lo, hi, r.randint(lo, hi)])
                else:
                    v = interesting_uint(r, c.size)
                    if c.signed and v >= 1 << (c.size - 1):
                        v -= 1 << c.size
            bo = g.eff_bo(c.bo)
            w.align(c.al(), bo)
            w.bits(v, c.size, bo)
            self.last[id(t)] = v
            return v
        if k == "float":
            bo = g.eff_bo(t.bo)
            w.align(t.al(), bo)
            if t.size == 32:
                x = r.random()
                if x < 0.2:
                    bits = r.getrandbits(32)
                else:
                    f = r.choice([0.0, -0.0, 1.0, -2.5, 3.14159, 1e-40, 3.4e38, float("inf"), float("-inf"),
                                  float("nan"), 123456.789, 1e-7, r.uniform(-1e6, 1e6), 0.1, 1e21, 12345678.0])
                    bits = pystruct.unpack("<I", pystruct.pack("<f", f))[0]
            else:
                x = r.random()
                if x < 0.2:
                    bits = r.getrandbits(64)
                else:
                    f = r.choice([0.0, -0.0, 1.0, -2.5, 3.141592653589793, 5e-324, 1.7976931348623157e308,
                                  float("inf"), float("nan"), 1e-300, r.uniform(-1e12, 1e12), 0.1, 1e16, 1e15,
                                  123456789012.5, 2.0 ** 70, 1e-5, 0.0001])
                    bits = pystruct.unpack("<Q", pystruct.pack("<d", f))[0]
            w.bits(bits, t.size, bo)
            return None
        if k == "string":
            w.align(8, g.bo)
            w.raw(self.string_bytes(t.long) + b"\0")
            return None
        if k == "struct":
            w.align(t.al(), g.bo)
            for _, m in t.members:
                self.write(m)
            return None
        if k == "variant":
            v = self.last[id(t.tagobj)]
            for lab, o in t.opts:
                if any(lo <= v <= hi for l2, lo, hi, _ in t.tagobj.maps if l2 == lab):
                    self.write(o)
                    return None
            raise AssertionError("tag value without option")
        if k in ("array", "seq"):
            n = t.length if k == "array" else self.last[id(t.lenobj)]
            e = t.elem
            w.align(e.al(), g.bo)
            if is_text_elem(e):
                data = self.text_bytes(n)
                ec = e.cont if e.kind == "enum" else e
                w.align(8, g.eff_bo(ec.bo))
                w.raw(data)
                return None
            for _ in range(n):
                self.write(e)
            return None
        raise ValueError(k)

    def string_bytes(self, long=False):
        r = self.r
        if long:
            n = r.choice([127, 128, 255, 256, 1000, 4095, 4096]) if r.random() < 0.9 else 65535
            return bytes(r.choice(b"abcdefghij/._-ABC") for _ in range(n))
        x = r.random()
        if x < 0.15:
            return b"" if self.g.k["empty"] else b"e"
        if x < 0.45:
            return bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 /._-") for _ in range(r.randint(1, 24)))
        if x < 0.6:
            return bytes(r.choice(b"\"'\\?abc") for _ in range(r.randint(1, 8)))
        if x < 0.7:
            return bytes(r.randint(1, 0x1F) if r.random() < 0.5 else 0x7F for _ in range(r.randint(1, 6)))
        if x < 0.8:
            return bytes(r.randint(0x80, 0xFF) for _ in range(r.randint(1, 8)))
        if x < 0.9:
            return r.choice(["h\u00e9llo", "\u65e5\u672c", "\U0001F600x", "\u00ff\u0100"]).encode()
        return bytes(r.randint(1, 255) for _ in range(r.randint(1, 40)))

    def text_bytes(self, n):
        r = self.r
        if n == 0:
            return b""
        lead_nul = self.g.k["empty"]
        x = r.random()
        if x < 0.4:
            return bytes(r.choice(b"abcdefgh XYZ/") for _ in range(n))
        if x < 0.6:
            # NUL inside: the text stops there
            k = r.randint(0 if lead_nul else 1, n - 1) if n > 1 or lead_nul else None
            if k is None:
                return b"a"
            return bytes(r.choice(b"abc") for _ in range(k)) + b"\0" + bytes(r.randint(0, 255) for _ in range(n - k - 1))
        if x < 0.8:
            return bytes(r.randint(1, 255) for _ in range(n))
        return bytes(r.choice(b"ab\\\"'\n\t\x01\x7f\xc3\xa9") for _ in range(n))


# ---------------------------------------------------------------- trace assembly

def gen_uuid(r):
    return bytes(r.getrandbits(8) for _ in range(16))


def uuid_text(b):
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def interleave(r, a, b):
    """Merges lists A and B at random, keeping the order within each."""
    out, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and r.random() < 0.5):
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out


class Trace:
    """The model of one trace (metadata), its plan (streams, packets,
    events and their times) and the writer of both. SHRINK (minimiser)
    drops streams/packets/events of the plan and members of structs; the
    values of what is kept do not change (one random stream per packet and
    per event)."""

    def __init__(self, seed, shape=None, shrink=None):
        self.seed = seed
        self.g = Gen(seed, shape)
        self.shrink = shrink or {}
        self.build()
        self.make_plan()
        self.apply_shrink()

    # -------------------------------------------------------- model
    def build(self):
        g, r = self.g, self.g.r
        shape = g.shape
        self.uuid = gen_uuid(r) if r.random() < 0.8 else None
        self.packetized = self.uuid is not None and r.random() < 0.25
        # clocks: babeltrace2's muxer wants all absolute, or all with one uuid
        nclk = r.choice([0, 1, 1, 1, 1, 2]) if shape != "simple" else 1
        self.clocks = []
        shared_uuid = gen_uuid(r)
        absolute = r.random() < 0.5
        for i in range(nclk):
            if nclk == 1 and r.random() < 0.3:
                name = "monotonic"
            else:
                name = r.choice(["c%d", "clk%d", "mono%d", "_c%d"]) % i
            freq = r.choice([1000000000, 1000000000, 1000000, 1000, 32768, 1, 2000000000, 123456789, 3, 999999999])
            c = {
                "name": name, "freq": freq,
                "offset_s": r.choice([0, 0, 1, 1500000000, 1700000000, 1711846800, 1699170000, 4000000000,
                                      r.randint(0, 2000000000)]),
                "offset": r.choice([0, 0, 1, freq - 1, freq, 3 * freq + 7, r.randint(0, min(10 ** 12, freq * 10 ** 8))]),
                "absolute": absolute if nclk > 1 else r.choice([None, True, False]),
                "uuid": shared_uuid if (nclk > 1 and not absolute) else (gen_uuid(r) if r.random() < 0.5 else None),
                "desc": r.choice([None, b"A clock", b"tab\there \"q\" \\ \x01", b"\xc3\xa9t\xc3\xa9"]),
                "precision": r.choice([None, 0, 10, 1000]),
            }
            self.clocks.append(c)
        # env
        self.env = []
        if r.random() < 0.9:
            self.env.append(("hostname", r.choice([b"host", b"my-host", b"h\"q", b"h\\b", b"h\xc3\xa9",
                                                   b"a\tb", b"x\x01y", b""])))
        if r.random() < 0.4:
            self.env.append(("domain", r.choice([b"ust", b"kernel", b"dom\"x"])))
        if r.random() < 0.5:
            self.env.append(("procname", r.choice([b"app", b"my app", b"p\\n", b"\xff\xfe"])))
        if r.random() < 0.5:
            # an integer: babeltrace2 2.0.4 prints a string vpid as an
            # address-like garbage number
            self.env.append(("vpid", r.choice([0, 1, 1234, 4194304, -5])))
        self.lttng = False
        if r.random() < 0.3:
            # versions babeltrace2 applies no bug workaround to (its
            # lttng-crash fix-up asserts on streams without a clock)
            name = r.choice([b"lttng-ust", b"lttng-modules", b"mytracer", b"barectf"])
            self.lttng = name.startswith(b"lttng")
            self.env.append(("tracer_name", name))
            self.env.append(("tracer_major", 3 if name == b"barectf" else r.choice([2, 3])))
            self.env.append(("tracer_minor", r.choice([13, 14])))
            self.env.append(("tracer_patchlevel", r.choice([0, 1])))
        for i in range(r.randint(0, 4)):
            v = r.choice([r.randint(-10 ** 6, 10 ** 6), r.getrandbits(63), 0,
                          bytes(r.randint(1, 255) for _ in range(r.randint(0, 10))), b"plain"])
            self.env.append(("k%d_%d" % (i, g.uid()), v))
        r.shuffle(self.env)
        # packet header
        nsc = {"simple": 1}.get(shape, r.choice([1, 1, 2, 3]))
        hdr = []
        self.hdr_uuid = self.uuid is not None and r.random() < 0.7
        # babeltrace2 2.0.4 crashes (SIGSEGV) on a sequence in the packet header
        scope_ph = Scope("trace.packet.header", [], nodyn=True)
        if r.random() < 0.8:
            hdr.append(("magic", self.role_int(32)))
        if self.hdr_uuid:
            u8 = Int(8, False, r.choice([None, 8]), None, r.choice([None, 16]), None)
            hdr.append(("uuid", Array(u8, 16)))
        self.has_sid = nsc > 1 or r.random() < 0.5
        ids = r.sample(range(0, 40 if r.random() < 0.8 else 1000), nsc) if self.has_sid else [0]
        if self.has_sid:
            hdr.append(("stream_id", self.role_int(r.choice([s for s in (8, 16, 32, 64) if s >= max(ids).bit_length()]))))
        if r.random() < 0.5:
            hdr.append(("stream_instance_id", self.role_int(r.choice([8, 32, 64]))))
        # knobs drawn from their own stream (the draws above stay put)
        kr = random.Random(self.seed ^ 0x0BAD)
        # a packet UUID other than the metadata's: babeltrace2 2.0.4 reads
        # the trace (issue 10 defect 2)
        self.uuid_mismatch = self.hdr_uuid and kr.random() < 0.03
        self.other_uuid = gen_uuid(kr)
        self.has_inst = any(n == "stream_instance_id" for n, _ in hdr)
        self.split_rate = 0.15 if self.has_inst else 0.0
        self.kr = kr
        self.ph = None
        if hdr or r.random() < 0.3:
            self.ph = Struct(hdr, None)
            if shape != "simple" and r.random() < 0.3:
                extra = g.scope_struct(scope_ph, r.randint(0, 2), 1)
                g.export_fields(scope_ph, extra)
                self.ph.members = interleave(r, self.ph.members, extra.members)
                self.ph.members.sort(key=lambda m: m[0] != "magic")     # magic first
        # stream classes
        self.use_clock = bool(self.clocks) and (r.random() < 0.92 or self.lttng)
        if self.lttng and not self.clocks:
            self.env = [e for e in self.env if e[0] != "tracer_name"]
            self.lttng = False
        self.scs = []
        for i in range(nsc):
            self.scs.append(self.build_sc(ids[i], scope_ph))

    def role_int(self, size, clock=None):
        g = self.g
        t = Int(size, False, g.r.choice([None, 8]) if size % 8 == 0 else None, None,
                g.r.choice([None, None, 16]), None, clock)
        t.role = "fixed"
        if g.k["alias"] and g.r.random() < 0.5:
            g.name_int(t)
        return t

    def build_sc(self, sid, scope_ph):
        g, r = self.g, self.g.r
        sc = {"id": sid}
        clk = r.choice(self.clocks) if self.use_clock else None
        sc["clock"] = clk
        scope_pc = Scope("stream.packet.context", list(scope_ph.exports))
        pc = []
        sc["ts_bits"] = 64 if r.random() < 0.85 else r.choice([32, 48])
        sc["has_begin"] = sc["has_end"] = False
        if clk is not None and (r.random() < 0.85 or self.lttng):
            sc["has_begin"] = True
            pc.append(("timestamp_begin", self.clock_int(sc["ts_bits"], clk, "ts_begin")))
        if clk is not None and (r.random() < 0.8 or self.lttng):
            sc["has_end"] = True
            pc.append(("timestamp_end", self.clock_int(sc["ts_bits"], clk, "ts_end")))
        sc["has_size"] = r.random() < 0.85
        sc["has_content"] = (sc["has_size"] and r.random() < 0.9) or (not sc["has_size"] and r.random() < 0.3)
        if sc["has_content"]:
            pc.append(("content_size", self.size_int("content_size")))
        if sc["has_size"]:
            pc.append(("packet_size", self.size_int("packet_size")))
        # packets that must end on a byte: no content_size (the packet
        # fills its size), or no packet_size (babeltrace2 then takes
        # content_size as the packet size)
        sc["byte_end"] = not (sc["has_content"] and sc["has_size"])
        sc["has_disc"] = r.random() < 0.3
        if sc["has_disc"]:
            pc.append(("events_discarded", self.size_int("events_discarded", r.choice([8, 32, 64]))))
        sc["has_seq"] = r.random() < 0.3
        if sc["has_seq"]:
            pc.append(("packet_seq_num", self.size_int("packet_seq_num", r.choice([8, 32, 64]))))
        if r.random() < 0.6:
            t = g.new_int(size=32, signed=False, bp=False)
            t.role = "fixed"
            pc.append(("cpu_id", t))
        r.shuffle(pc)
        extra = g.scope_struct(scope_pc, r.randint(0, 3) if g.shape != "simple" else r.randint(0, 1), 1)
        g.export_fields(scope_pc, extra)
        pc = interleave(r, pc, extra.members)
        sc["pc"] = Struct(pc, None) if pc or clk is not None or r.random() < 0.5 else None
        # event classes (their ids decide the header)
        nev = {"simple": r.randint(1, 3), "headers": r.randint(1, 40), "wide": r.randint(1, 3)}.get(
            g.shape, r.randint(1, 6))
        if r.random() < 0.2:
            ev_ids = r.sample(range(0, 100000), nev)
        else:
            ev_ids = r.sample(range(0, max(nev + 1, 40)), nev)
        sc["emit_ids"] = nev > 1 or r.random() < 0.5
        if not sc["emit_ids"]:
            ev_ids = [0]        # an event class without `id` has id 0
        scope_eh = Scope("stream.event.header", scope_ph.exports + scope_pc.exports)
        if nev == 1:
            kind = r.choice(["none", "simple", "compact", "large", "simple", "large"])
        else:
            kind = r.choice(["simple", "compact", "large", "simple", "large"])
        if clk is None and kind in ("compact", "large"):
            kind = "simple"
        sc["hkind"] = kind
        sc["eh"] = self.build_header(sc, kind, clk, max(ev_ids), nev)
        if clk is not None and not sc["has_begin"] and not sc["has_end"] and sc["ev_ts_bits"] == 0:
            # a stream class has a clock only through a mapped field
            sc["has_begin"] = True
            sc["pc"].members.insert(0, ("timestamp_begin", self.clock_int(sc["ts_bits"], clk, "ts_begin")))
        scope_sec = Scope("stream.event.context", scope_eh.outer)
        sc["sec"] = None
        if r.random() < 0.4:
            sc["sec"] = g.scope_struct(scope_sec, r.randint(0, 3), max(1, g.k["depth"] - 1))
            g.export_fields(scope_sec, sc["sec"])
        sc["evs"] = [self.build_ec(eid, sc, scope_sec) for eid in ev_ids]
        return sc

    def clock_int(self, size, clk, role):
        g = self.g
        al = g.r.choice([None, 8, 32, 64]) if size % 8 == 0 else g.r.choice([None, 1])
        t = Int(size, False, al, g.bo_attr(size, al or 8) if size % 8 == 0 else None,
                g.r.choice([None, 16]), None, clk["name"])
        t.role = role
        if g.k["alias"] and g.r.random() < 0.5:
            g.name_int(t)
        return t

    def size_int(self, role, size=None):
        g = self.g
        size = size or g.r.choice([32, 64, 64])
        al = g.r.choice([None, 8, 32])
        t = Int(size, False, al, g.bo_attr(size, al or 8), g.r.choice([None, 10, 16]), None)
        t.role = role
        if g.k["alias"] and g.r.random() < 0.5:
            g.name_int(t)
        return t

    def build_header(self, sc, kind, clk, maxid, nev):
        g, r = self.g, self.g.r
        sc["ev_ts_bits"] = 0        # events take the current clock value
        if kind == "none":
            return None
        if kind == "simple":
            idsz = max(1, maxid.bit_length())
            idsz = r.choice([idsz, max(idsz, 8), max(idsz, 16), 32])
            mem = []
            if nev > 1 or r.random() < 0.5:
                idf = Int(idsz, False, None if idsz % 8 else r.choice([None, 8]), None, None, None)
                idf.role = "id"
                mem.append(("id", idf))
            if clk is not None:
                tsz = r.choice([64, 64, 32, 27, 16, 8, 1, 5, 40, 63])
                sc["ev_ts_bits"] = tsz
                mem.append(("timestamp", self.clock_int(tsz, clk, "ts")))
            if r.random() < 0.5:
                r.shuffle(mem)
            if not mem:
                return None
            return Struct(mem, r.choice([None, 8]))
        # LTTng's compact and large headers: an enum id selects a variant
        sc["ev_ts_bits"] = None     # any delta (extended option)
        csz, esc = (5, 31) if kind == "compact" else (16, 65535)
        tsz = 27 if kind == "compact" else 32
        cont = Int(csz, False, None if kind == "compact" else r.choice([None, 8, 16]), None, None, None)
        e = Enum(cont, [("compact", 0, esc - 1, "range"), ("extended", esc, esc, "value")])
        e.tag = True
        e.role = "hid"
        ts_c = self.clock_int(tsz, clk, "ts")
        ts_e = self.clock_int(64, clk, "ts")
        id_e = Int(32, False, None, None, None, None)
        id_e.role = "id"
        ext = Struct([("id", id_e), ("timestamp", ts_e)], None)
        v = Variant("id", e, [("compact", Struct([("timestamp", ts_c)], None)), ("extended", ext)])
        st = Struct([("id", e), ("v", v)], 8 if kind == "compact" else None)
        st.hdr = (esc, e, ts_c, ext, id_e, ts_e)
        return st

    def build_ec(self, eid, sc, scope_sec):
        g, r = self.g, self.g.r
        ec = {"id": eid, "name": self.event_name()}
        ec["loglevel"] = r.choice([None, None, 0, 4, 6, 13, 14, 15, 100])
        ec["emf"] = r.choice([None, None, None, b"http://example.com/x", b"u\"ri\\x"])
        scope_ctx = Scope("event.context", scope_sec.outer + scope_sec.exports, nodyn=True)
        ec["ctx"] = None
        if r.random() < 0.3:
            ec["ctx"] = g.scope_struct(scope_ctx, r.randint(0, 3), max(1, g.k["depth"] - 1))
            g.export_fields(scope_ctx, ec["ctx"])
        scope_f = Scope("event.fields", scope_ctx.outer + scope_ctx.exports)
        ec["fields"] = g.scope_struct(scope_f)
        if r.random() < 0.1 and (sc["eh"] or sc["sec"] or ec["ctx"]) and not sc["byte_end"]:
            ec["fields"] = None
        # an event is never 0 bits long, and when a stream has no
        # content_size its packets end on a byte: such payloads end with a
        # byte-aligned whole-byte field
        if ec["fields"] is not None and (sc["byte_end"] or not (sc["eh"] or sc["sec"] or ec["ctx"])):
            t = Int(r.choice([8, 16, 32]), False, 8, None, None, None)
            ec["fields"].members.append((g.fname(), t))
        return ec

    def event_name(self):
        r = self.g.r
        n = self.g.uid()
        x = r.random()
        if x < 0.6:
            return ("ev%d" % n).encode()
        if x < 0.8:
            return ("prov:ev_%d" % n).encode()
        return r.choice([b"e v%d", b"e\"q%d", b"e\\%d", b"\xc3\xa9v%d", b"e\tt%d", b"e\x01%d"]) % n

    # -------------------------------------------------------- plan
    def make_plan(self):
        """Streams, packets, events and their clock values. Event times
        respect babeltrace2's clock reconstruction: an N-bit timestamp may
        wrap at most once since the previous clock value."""
        g, r = self.g, self.g.r
        self.plan = []
        inst = 0
        for sc in self.scs:
            for _ in range(r.choice([1, 1, 2, 3]) if g.shape != "simple" else 1):
                name = r.choice(["stream_%d", "chan_%d", "s%d", "ch_%d_x", "data.%d"]) % (len(self.plan) + 1)
                st = {"sc": sc, "inst": inst, "name": name, "packets": []}
                inst += 1
                self.plan.append(st)
                npk = r.choice([1, 1, 2, 3, 5]) if sc["has_size"] else 1
                if g.shape == "big" and sc["has_size"]:
                    npk = r.randint(5, 15)
                small = sc["ts_bits"] < 64
                # ns from origin fit babeltrace2's int64: at most ~3e9 s of cycles
                lim = min(1 << 62, 3 * 10 ** 9 * (sc["clock"]["freq"] if sc["clock"] else 1))
                tsmax = min((1 << sc["ts_bits"]) - 1, lim) if small else lim
                cur = 0
                t = r.choice([0, 1, 1000, r.getrandbits(40), r.getrandbits(55)]) if not small else r.randint(0, 1000)
                t = min(t, tsmax // 2)
                disc = r.choice([0, 0, 5])
                seq = r.choice([0, 0, 7])
                for p in range(npk):
                    nev = r.choice([0, 1, 2, 3, 5, 8, 20]) if g.shape != "big" else r.randint(20, 100)
                    if sc["byte_end"]:
                        nev = max(nev, 1)
                    pk = {"disc": disc, "seq": seq, "seed": r.getrandbits(64), "events": []}
                    if sc["has_begin"]:
                        cur = min(tsmax, max(cur, t) + r.choice([0, 0, 1, 100, 12345]))
                    pk["begin"] = cur
                    bits = sc["ev_ts_bits"]
                    for _ in range(nev):
                        if bits != 0:
                            lim = (1 << bits) - 1 if bits is not None else (1 << 40)
                            d = r.choice([0, 0, 1, 2, 1000, 77777, r.getrandbits(20), r.getrandbits(30),
                                          r.getrandbits(36)])
                            cur = min(tsmax, cur + min(d, lim))
                        pk["events"].append((sc["evs"][r.randrange(len(sc["evs"]))], cur, r.getrandbits(64)))
                    if sc["has_end"]:
                        cur = min(tsmax, cur + r.choice([0, 0, 1, 500]))
                    pk["end"] = cur
                    t = cur
                    st["packets"].append(pk)
                    disc += r.choice([0, 0, 0, 1, 3])
                    seq += r.choice([1, 1, 1, 1, 2])
        self.extra_files = []
        if r.random() < 0.1:
            self.extra_files.append((".hidden", b"not a stream"))
        if r.random() < 0.05:
            self.extra_files.append(("empty_file", b""))
        self.wseed = r.getrandbits(64)

    def apply_shrink(self):
        s = self.shrink
        if "streams" in s:
            self.plan = [st for i, st in enumerate(self.plan) if i in s["streams"]]
        if "packets" in s:
            for i, st in enumerate(self.plan):
                st["packets"] = [pk for j, pk in enumerate(st["packets"]) if (st["inst"], j) in s["packets"]]
        if "events" in s:
            for st in self.plan:
                for j, pk in enumerate(st["packets"]):
                    pk["events"] = [ev for k, ev in enumerate(pk["events"]) if (st["inst"], pk["seed"], k) in s["events"]]
        if s.get("classes"):
            # drop event classes and stream classes no kept event uses
            used = set()
            for st in self.plan:
                used.add(id(st["sc"]))
                for pk in st["packets"]:
                    for ec, _, _ in pk["events"]:
                        used.add(id(ec))
            self.scs = [sc for sc in self.scs if id(sc) in used]
            for sc in self.scs:
                keep = [ec for ec in sc["evs"] if id(ec) in used]
                sc["evs"] = keep or sc["evs"][:1]
        for sid, eid in s.get("drop_ec", []):
            for sc in self.scs:
                if sc["id"] == sid and len(sc["evs"]) > 1:
                    sc["evs"] = [ec for ec in sc["evs"] if ec["id"] != eid]
            for st in self.plan:
                for pk in st["packets"]:
                    pk["events"] = [ev for ev in pk["events"] if not (st["sc"]["id"] == sid and ev[0]["id"] == eid)]
        if s.get("noenv"):
            self.env = [e for e in self.env if e[0] in ("hostname", "domain", "procname", "vpid")]
        if s.get("noextra"):
            self.extra_files = []
        if s.get("plain"):
            self.packetized = False
        for path in s.get("members", []):
            drop_member(self, path)

    # -------------------------------------------------------- metadata text
    def metadata(self):
        g = self.g
        r = random.Random(self.wseed ^ 0x5EED)
        g.r, saved = r, g.r
        try:
            return self._metadata(r)
        finally:
            g.r = saved

    def _metadata(self, r):
        g = self.g
        ts = Tsdl(g)
        esc = g.k["escapes"]
        out = []
        tb = ["major = 1", "minor = 8", "byte_order = %s" % g.bo]
        if self.uuid:
            tb.append('uuid = "%s"' % uuid_text(self.uuid))
        r.shuffle(tb)
        if self.ph is not None:
            tb.append("packet.header := %s" % ts.typ(self.ph, "\t"))
        out.append("trace {\n\t%s;\n};" % ";\n\t".join(tb))
        if self.env:
            lines = []
            for k, v in self.env:
                if isinstance(v, bytes):
                    lines.append("%s = %s;" % (k, tsdl_string(r, v, esc)))
                else:
                    lines.append("%s = %s;" % (k, lit(r, v)))
            out.append("env {\n\t%s\n};" % "\n\t".join(lines))
        for c in self.clocks:
            cl = ["name = %s" % c["name"], "freq = %s" % lit(r, c["freq"])]
            if c["offset_s"] or r.random() < 0.3:
                cl.append("offset_s = %s" % lit(r, c["offset_s"]))
            if c["offset"] or r.random() < 0.3:
                cl.append("offset = %s" % lit(r, c["offset"]))
            if c["absolute"] is not None:
                cl.append("absolute = %s" % ts.boolean(c["absolute"]))
            if c["uuid"]:
                cl.append('uuid = "%s"' % uuid_text(c["uuid"]))
            if c["desc"] is not None:
                cl.append("description = %s" % tsdl_string(r, c["desc"], esc))
            if c["precision"] is not None:
                cl.append("precision = %d" % c["precision"])
            r.shuffle(cl)
            out.append("clock {\n\t%s;\n};" % ";\n\t".join(cl))
        for sc in self.scs:
            sl = []
            sid = self.has_sid
            if sid:
                sl.append("id = %s" % lit(r, sc["id"]))
            if sc["eh"] is not None:
                sl.append("event.header := %s" % ts.typ(sc["eh"], "\t"))
            if sc["pc"] is not None:
                sl.append("packet.context := %s" % ts.typ(sc["pc"], "\t"))
            if sc["sec"] is not None:
                sl.append("event.context := %s" % ts.typ(sc["sec"], "\t"))
            out.append("stream {\n\t%s;\n};" % ";\n\t".join(sl) if sl else "stream { };")
            for ec in sc["evs"]:
                el = ["name = %s" % tsdl_string(r, ec["name"], esc)]
                if sc["emit_ids"]:
                    el.append("id = %s" % lit(r, ec["id"]))
                if len(self.scs) > 1 or r.random() < 0.5:
                    el.append("stream_id = %s" % lit(r, sc["id"]))
                if ec["loglevel"] is not None:
                    el.append("loglevel = %d" % ec["loglevel"])
                if ec["emf"] is not None:
                    el.append("model.emf.uri = %s" % tsdl_string(r, ec["emf"], esc))
                r.shuffle(el)
                if ec["ctx"] is not None:
                    el.append("context := %s" % ts.typ(ec["ctx"], "\t"))
                if ec["fields"] is not None:
                    el.append("fields := %s" % ts.typ(ec["fields"], "\t"))
                out.append("event {\n\t%s;\n};" % ";\n\t".join(el))
                if r.random() < 0.05:
                    out.append('callsite {\n\tname = %s;\n\tfunc = "f";\n\tfile = "x.c";\n\tline = %d;\n\tip = 0x%x;\n};'
                               % (tsdl_string(r, ec["name"], False), r.randint(1, 999), r.getrandbits(48)))
        text = "/* CTF 1.8 */\n"
        if r.random() < 0.3:
            text += "// generated by ctfgen, seed %d\n" % self.seed
        text += "".join(d + "\n" for d in ts.decls) + "\n".join(out) + "\n"
        return text.encode("latin-1")

    def metadata_file(self):
        text = self.metadata()
        if not self.packetized:
            return text
        r = random.Random(self.wseed ^ 0xFACE)
        bo = "<" if self.g.bo == "le" else ">"
        out = bytearray()
        pos = 0
        while pos < len(text):
            n = min(len(text) - pos, r.choice([64, 200, 1000, 4000]))
            chunk = text[pos:pos + n]
            pos += n
            pad = r.choice([0, 0, 3, 100])
            content = (37 + len(chunk)) * 8
            hdr = pystruct.pack(bo + "I", 0x75D11D57) + self.uuid + pystruct.pack(
                bo + "III", 0, content, content + pad * 8) + bytes([0, 0, 0, 1, 8])
            out += hdr + chunk + bytes(pad)
        return bytes(out)

    # -------------------------------------------------------- streams
    def write(self, outdir):
        os.makedirs(outdir, exist_ok=True)
        names = []
        self.size_fields = {}       # file -> [(bit position, size, byte order)] (mutations)
        for st in self.plan:
            parts = []
            off = 0
            for pk in st["packets"]:
                self.fixpos = []
                parts.append(self.write_packet(st, pk))
                self.size_fields.setdefault(st["name"], []).extend((off + p, s, b) for p, s, b in self.fixpos)
                off += 8 * len(parts[-1])
            cut = len(parts)
            begins = [pk["begin"] for pk in st["packets"]]
            # split only where every packet begins at a distinct, later time:
            # babeltrace2 orders the files of a stream by their first
            # timestamp_begin and drops packets equal in size and times
            # (regress/duplicate-packets-across-files)
            if (len(parts) >= 2 and st["sc"]["has_begin"] and st["sc"]["has_size"]
                    and all(a < b for a, b in zip(begins, begins[1:]))
                    and self.kr.random() < self.split_rate):
                # one stream in two files (same stream_instance_id), the
                # later packets in a file whose name sorts first
                cut = self.kr.randint(1, len(parts) - 1)
                with open(os.path.join(outdir, "0" + st["name"]), "wb") as f:
                    f.write(b"".join(parts[cut:]))
            with open(os.path.join(outdir, st["name"]), "wb") as f:
                f.write(b"".join(parts[:cut]))
            names.append(st["name"])
        with open(os.path.join(outdir, "metadata"), "wb") as f:
            f.write(self.metadata_file())
        for name, data in self.extra_files:
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
        return names

    def write_packet(self, st, pk):
        g = self.g
        sc = st["sc"]
        pr = random.Random(pk["seed"])
        w = BitWriter(pr, g.garbage)
        vals = Values(g, w, pr)
        fix = {}
        if self.ph is not None:
            self.write_fixed(vals, self.ph, {"magic": 0xC1FC1FC1, "stream_id": sc["id"],
                                             "stream_instance_id": st["inst"]}, fix)
        if sc["pc"] is not None:
            self.write_fixed(vals, sc["pc"], {"timestamp_begin": pk["begin"], "timestamp_end": pk["end"],
                                              "events_discarded": pk["disc"], "packet_seq_num": pk["seq"],
                                              "content_size": 0, "packet_size": 0}, fix)
        if sc["has_begin"]:
            self.cur = pk["begin"]
        elif not hasattr(self, "cur") or self.cur_stream is not st:
            self.cur = 0
        self.cur_stream = st
        for ec, ts, eseed in pk["events"]:
            vals.r = random.Random(eseed)
            self.write_event(vals, sc, ec, ts)
        if sc["has_end"]:
            self.cur = pk["end"]
        content = w.pos
        if sc["byte_end"] and content % 8:
            raise AssertionError("packet content does not end on a byte")
        total = (content + 7) // 8 * 8
        if sc["has_content"] and sc["has_size"]:
            total += 8 * pr.choice([0, 0, 1, 7, 64, 4096 - ((total // 8) % 4096)])
        w.pos = content
        while w.pos < total:
            w.bits(pr.getrandbits(8) if g.garbage else 0, min(8, total - w.pos), g.bo)
        for name, (pos, t) in fix.items():
            w.put(pos, content if name == "content_size" else total, t.size, g.eff_bo(t.bo))
            self.fixpos.append((pos, t.size, g.eff_bo(t.bo)))
        return bytes(w.buf[:total // 8])

    def write_fixed(self, vals, st, known, fix):
        """A packet header/context: role fields get their values (sizes are
        patched once known), other fields random values."""
        g = self.g
        w = vals.w
        w.align(st.al(), g.bo)
        for name, t in st.members:
            if name == "uuid" and t.kind == "array":
                w.align(8, g.bo)
                w.raw(self.other_uuid if self.uuid_mismatch else self.uuid)
            elif name in known and t.kind == "int" and t.role not in ("len", "tag"):
                bo = g.eff_bo(t.bo)
                w.align(t.al(), bo)
                if name in ("content_size", "packet_size"):
                    fix[name] = (w.pos, t)
                w.bits(known[name], t.size, bo)
                vals.last[id(t)] = known[name]
            else:
                vals.write(t)

    def write_event(self, vals, sc, ec, ts):
        g = self.g
        eh = sc["eh"]
        if eh is not None:
            hdr = getattr(eh, "hdr", None)
            if hdr is not None:
                esc, e, ts_c, ext, id_e, ts_e = hdr
                vals.w.align(eh.al(), g.bo)
                compact = ec["id"] < esc and ts - self.cur < (1 << ts_c.size) and vals.r.random() < 0.85
                vals.write(e, forced=ec["id"] if compact else esc)
                if compact:
                    vals.w.align(ts_c.al(), g.bo)      # the option struct's alignment
                    vals.write(ts_c, forced=ts & ((1 << ts_c.size) - 1))
                else:
                    vals.w.align(ext.al(), g.bo)
                    vals.write(id_e, forced=ec["id"])
                    vals.write(ts_e, forced=ts)
            else:
                vals.w.align(eh.al(), g.bo)
                for name, t in eh.members:
                    if t.role == "id":
                        vals.write(t, forced=ec["id"])
                    elif t.role == "ts":
                        vals.write(t, forced=ts & ((1 << t.size) - 1))
                    else:
                        vals.write(t)
        self.cur = ts
        for part in (sc["sec"], ec["ctx"], ec["fields"]):
            if part is not None:
                vals.write(part)


def drop_member(tr, path):
    """Shrink step: removes member PATH=(struct index in walk order, name)
    unless something refers to it."""
    idx, name = path
    structs = [t for t in all_types(tr) if t.kind == "struct"]
    if idx >= len(structs):
        return
    st = structs[idx]
    refs = set()
    for t in all_types(tr):
        o = getattr(t, "lenobj", None) or getattr(t, "tagobj", None)
        if o is not None:
            refs.add(id(o))
    st.members = [(n, m) for n, m in st.members if n != name or id(m) in refs or m.role]


def all_types(tr):
    roots = [tr.ph]
    for sc in tr.scs:
        roots += [sc["pc"], sc["eh"], sc["sec"]]
        for ec in sc["evs"]:
            roots += [ec["ctx"], ec["fields"]]
    for t in roots:
        if t is not None:
            yield from walk(t)


def generate(seed, outdir, shape=None, shrink=None):
    tr = Trace(seed, shape, shrink)
    tr.write(outdir)
    return tr


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("outdir")
    ap.add_argument("--shape", choices=SHAPES)
    a = ap.parse_args()
    generate(a.seed, a.outdir, a.shape)
