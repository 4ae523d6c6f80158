#!/usr/bin/env python3
"""The reader's layout, checked (docs/design/reader.md, "Layout").

lib/reader is one folder per stage of its pipeline:
    base < metadata < compile < iter < debuginfo < sink
A file may include headers of its own stage and of the stages before it,
never of a later one; the quoted includes between the reader's headers
form no cycle; every .c file opens with a comment that says what it is
and points to its design note.

    layout_check.py LIB_READER_DIR     check the tree, exit 1 on a violation
    layout_check.py --selftest         show that each rule catches a bad tree
"""
import os
import re
import sys
import tempfile

STAGES = ["base", "metadata", "compile", "iter", "debuginfo", "sink"]
# headers from outside the stages: the library's API and libc-only codecs
EXTERNAL = re.compile(r"^(ringtrace/[\w-]+\.h|ctf-index\.h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def stage_of(rel):
    top = rel.split("/", 1)[0]
    return STAGES.index(top) if top in STAGES else None


def check(root):
    errors = []
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(d, n), root)
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    files[rel] = f.read()
    graph = {}
    for rel, text in sorted(files.items()):
        if rel.startswith("include/"):
            graph[rel] = []
            continue
        st = stage_of(rel)
        if st is None:
            errors.append(f"{rel}: not in a stage folder ({', '.join(STAGES)})")
            continue
        deps = []
        for inc in INCLUDE.findall(text):
            if EXTERNAL.match(inc):
                continue
            if inc not in files:
                errors.append(f"{rel}: includes \"{inc}\", not a reader header")
                continue
            ist = stage_of(inc)
            if ist is None or ist > st:
                errors.append(f"{rel}: includes \"{inc}\" of a later stage "
                              f"({STAGES[ist] if ist is not None else '?'} after {STAGES[st]})")
            deps.append(inc)
        graph[rel] = deps
        if rel.endswith(".c"):
            m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
            if not m or "docs/design/" not in m.group(1) or m.group(1).count("\n") < 1:
                errors.append(f"{rel}: does not open with a comment of two lines or more "
                              "saying what it is and pointing to docs/design/")
    # cycles (depth-first search, three colours)
    colour = {}

    def visit(n, path):
        colour[n] = 1
        for m in graph.get(n, []):
            if colour.get(m) == 1:
                cyc = path[path.index(m):] + [m] if m in path else [n, m]
                errors.append("include cycle: " + " -> ".join(cyc))
            elif m not in colour:
                visit(m, path + [m])
        colour[n] = 2

    for n in sorted(graph):
        if n not in colour:
            visit(n, [n])
    return errors


def selftest():
    cases = {
        "upward include": {
            "base/base.h": "/* x */\n#include \"iter/iter.h\"\n",
            "iter/iter.h": "/* x */\n",
        },
        "cycle": {
            "compile/a.h": "/* x */\n#include \"compile/b.h\"\n",
            "compile/b.h": "/* x */\n#include \"compile/a.h\"\n",
        },
        "no opening comment": {
            "sink/x.c": "#include <stdio.h>\nint x;\n",
        },
        "file outside the stages": {
            "misc/y.c": "/* y\n * docs/design/reader.md */\n",
        },
    }
    ok = True
    for what, tree in cases.items():
        with tempfile.TemporaryDirectory() as d:
            for rel, text in tree.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
                with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            errs = check(d)
            print(f"selftest {what}: {'caught' if errs else 'MISSED'}: {errs[:1]}")
            ok = ok and bool(errs)
    good = {
        "base/base.h": "/* x */\n#include \"ringtrace/reader.h\"\n",
        "sink/s.c": "/* s, the sink\n * See docs/design/reader.md. */\n#include \"base/base.h\"\n",
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in good.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w", encoding="utf-8") as f:
                f.write(text)
        errs = check(d)
        print(f"selftest good tree: {'clean' if not errs else 'FLAGGED'}: {errs[:1]}")
        ok = ok and not errs
    return ok


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--selftest":
        return 0 if selftest() else 1
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    errs = check(sys.argv[1])
    for e in errs:
        print(e)
    n = sum(1 for _, _, ns in os.walk(sys.argv[1]) for x in ns if x.endswith((".c", ".h")))
    print(f"layout_check: {n} files, {len(errs)} violations")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
