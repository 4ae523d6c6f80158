#!/bin/bash
# `ringtrace view --debug-info` against `babeltrace2 --debug-info`, byte for
# byte, on traces recorded here of a program built here with -g
# -finstrument-functions: a PIE (di_prog) linked with a library whose DWARF
# was moved to a separate file named by .gnu_debuglink (libdi_dep.so), and
# dlopening a library twice (libdi_lib.so: load, unload, load).
#  * a ringtrace trace (record --func --context vpid,ip: statedump with
#    debug_link events, lttng_ust_dl:dlopen, lib load/unload events) and an LTTng-UST trace (lttng-tools with
#    liblttng-ust-cyg-profile and liblttng-ust-dl preloaded: statedump with
#    debug_link events, lttng_ust_dl:dlopen);
#  * options: none, --debug-info-full-path, and through
#    --debug-info-target-prefix copies of the binaries with DWARF stripped
#    (ELF symbols only), stripped of everything, without their build id
#    note, or absent, and the stripped copies with their DWARF under
#    --debug-info-dir/.build-id/;
#  * with -e and --begin (our filters: statedump events still count).
# Values checked besides the equality (babeltrace2's, so not ours): the
# functions are named as nm names them, with their source file, and each
# variant gives the kind of answer it should (ELF only: a name, no line).
# Also a trace naming every byte address of the three binaries' code and a
# sample of libringtrace.so's (sweep.py), and the traces of the shared
# corpus that hold statedump events (their binaries are absent here).
# Usage: debuginfo.sh RINGTRACE DI_SRC_DIR [CORPUS_DIR]
set -u
RT=$(realpath "$1") SRC=$(realpath "$2") CORPUS=${3:-}
TMP=$(mktemp -d)
export TZ=UTC LC_ALL=C
started=""
sessions=()
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for s in "${sessions[@]}"; do lttng destroy "$s" >/dev/null 2>&1; done
	if [ -n "$started" ]; then # the session daemon this test started
		kill "$started" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$started" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$started" 2>/dev/null
		wait "$started" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
bad() { fail=1; echo "FAIL $*"; }
die() { echo "FAIL $*"; exit 1; }

# ---- the programs ----
B=$TMP/bin
mkdir -p "$B"
CC=${CC:-cc}
cflags="-g -O1 -finstrument-functions"
$CC $cflags -fPIC -shared -o "$B/libdi_lib.so" "$SRC/di_lib.c" || die "cc di_lib"
$CC $cflags -fPIC -shared -o "$B/libdi_dep.so" "$SRC/di_dep.c" || die "cc di_dep"
objcopy --only-keep-debug "$B/libdi_dep.so" "$B/libdi_dep.so.debug" &&
	objcopy --strip-debug --add-gnu-debuglink="$B/libdi_dep.so.debug" "$B/libdi_dep.so" ||
	die "objcopy (debug link)"
$CC $cflags -fPIE -pie -o "$B/di_prog" "$SRC/di_prog.c" -L"$B" -ldi_dep -Wl,-rpath,"$B" -ldl ||
	die "cc di_prog"
"$B/di_prog" "$B/libdi_lib.so" | grep -qx "result 16 18 30 10" || die "di_prog does not run"

# ---- variants of the binaries, under target prefixes ----
variant() { # NAME COMMAND...: copies of the three binaries under $TMP/NAME$B
	local n=$1 f
	shift
	mkdir -p "$TMP/$n$B"
	for f in di_prog libdi_lib.so libdi_dep.so; do
		cp "$B/$f" "$TMP/$n$B/$f" && "$@" "$TMP/$n$B/$f" || die "variant $n: $*"
	done
}
variant nodwarf strip -g
variant stripped strip --strip-all
variant noid objcopy --remove-section .note.gnu.build-id
# DWARF of the stripped copies by build id
for f in di_prog libdi_lib.so; do
	id=$(readelf -n "$B/$f" | sed -n 's/.*Build ID: \([0-9a-f]*\)/\1/p')
	[ -n "$id" ] || die "no build id in $f"
	mkdir -p "$TMP/dbg/.build-id/${id:0:2}"
	objcopy --only-keep-debug "$B/$f" "$TMP/dbg/.build-id/${id:0:2}/${id:2}.debug" || die "objcopy $f"
done

compare() { # NAME TRACE OPTIONS...
	local n=$1 tr=$2
	shift 2
	babeltrace2 "$@" "$tr" >"$TMP/$n.bt2" 2>"$TMP/$n.bt2err" || { bad "babeltrace2 $*: $(head -c 300 "$TMP/$n.bt2err")"; return 1; }
	"$RT" view "$@" "$tr" >"$TMP/$n.rt" 2>"$TMP/$n.rterr" || { bad "view $*: $(head -c 300 "$TMP/$n.rterr")"; return 1; }
	cmp -s "$TMP/$n.bt2" "$TMP/$n.rt" ||
		{ bad "view $* $n: differs from babeltrace2: $(diff "$TMP/$n.bt2" "$TMP/$n.rt" | head -3 | cut -c1-300)"; return 1; }
	[ -n "${ANY_DI:-}" ] || grep -q "debug_info = {" "$TMP/$n.rt" || { bad "$n: no debug_info field"; return 1; }
	return 0
}

# the debug_info of the entries of the function at an address (its ip): "bin|func|src" lines, uniq'd
di_of() { # FILE FN-ADDRESS-REGEX
	grep "func_entry: " "$1" | grep "addr = $2," |
		sed -n 's/.*debug_info = { bin = "\([^"]*\)", func = "\([^"]*\)", src = "\([^"]*\)" }.*/\1|\2|\3/p' | sort -u
}

# nm's address of a function, as the trace prints it (hex, upper case)
addr_of() { # FILE SYMBOL BASE
	nm "$1" | awk -v s="$2" '$3 == s { print $1 }' | head -1 | { read -r a; printf '0x%X\n' $((16#$a + $3)); }
}

# the line of a function's opening brace (where its first line-table row
# points): the line after its definition's
line_of() { # FILE DEFINITION-REGEX
	echo $(($(grep -n -m1 "$2" "$1" | cut -d: -f1) + 1))
}
L_FIB=$(line_of "$SRC/di_prog.c" '^static int fib(')
L_LEAF=$(line_of "$SRC/di_lib.c" '^static int leaf(')
L_DEP=$(line_of "$SRC/di_dep.c" '^int dep_twice(')

check_trace() { # TAG TRACE
	local t=$1 tr=$2 base libbase fib leaf
	compare "$t" "$tr" --debug-info || return
	compare "$t-full" "$tr" --debug-info-full-path
	compare "$t-nodwarf" "$tr" --debug-info-target-prefix="$TMP/nodwarf"
	compare "$t-stripped" "$tr" --debug-info-target-prefix="$TMP/stripped" --debug-info-full-path
	compare "$t-noid" "$tr" --debug-info-target-prefix="$TMP/noid"
	compare "$t-byid" "$tr" --debug-info-target-prefix="$TMP/nodwarf" --debug-info-dir="$TMP/dbg"
	compare "$t-absent" "$tr" --debug-info-target-prefix="$TMP/absent/"
	compare "$t-nodir" "$tr" --debug-info --debug-info-dir="$TMP/absent"

	# the values: di_prog's fib as nm places it
	base=$(sed -n 's/.*bin_info: .*baddr = \(0x[0-9A-F]*\), memsz = [0-9]*, path = "[^"]*\/di_prog".*/\1/p' "$TMP/$t.rt" | head -1)
	[ -n "$base" ] || { bad "$t: no bin_info of di_prog"; return; }
	fib=$(addr_of "$B/di_prog" fib "$base")
	[ "$(di_of "$TMP/$t.rt" "$fib")" = "di_prog+$(printf '0x%x' $((fib - base)))|fib+0|di_prog.c:$L_FIB" ] ||
		bad "$t: fib at $fib resolves to '$(di_of "$TMP/$t.rt" "$fib")'"
	[ "$(di_of "$TMP/$t-full.rt" "$fib")" = "$B/di_prog+$(printf '0x%x' $((fib - base)))|fib+0|$SRC/di_prog.c:$L_FIB" ] ||
		bad "$t-full: fib resolves to '$(di_of "$TMP/$t-full.rt" "$fib")'"
	[ "$(di_of "$TMP/$t-nodwarf.rt" "$fib")" = "di_prog+$(printf '0x%x' $((fib - base)))|fib+0|" ] ||
		bad "$t-nodwarf: fib resolves to '$(di_of "$TMP/$t-nodwarf.rt" "$fib")'"
	[ "$(di_of "$TMP/$t-stripped.rt" "$fib")" = "$TMP/stripped$B/di_prog+$(printf '0x%x' $((fib - base)))||" ] ||
		bad "$t-stripped: fib resolves to '$(di_of "$TMP/$t-stripped.rt" "$fib")'"
	[ "$(di_of "$TMP/$t-noid.rt" "$fib")" = "||" ] ||
		bad "$t-noid: fib resolves to '$(di_of "$TMP/$t-noid.rt" "$fib")'"
	[ "$(di_of "$TMP/$t-byid.rt" "$fib")" = "di_prog+$(printf '0x%x' $((fib - base)))|fib+0|di_prog.c:$L_FIB" ] ||
		bad "$t-byid: fib resolves to '$(di_of "$TMP/$t-byid.rt" "$fib")'"
	# the dlopened library's leaf, at both of its loads
	libbase=$(sed -n 's/.* lttng_ust_\(lib:load\|dl:dlopen\): .*baddr = \(0x[0-9A-F]*\), memsz.*libdi_lib.so".*/\2/p' "$TMP/$t.rt" | head -1)
	[ -n "$libbase" ] || { bad "$t: no load of libdi_lib.so"; return; }
	leaf=$(addr_of "$B/libdi_lib.so" leaf "$libbase")
	[ "$(di_of "$TMP/$t.rt" "$leaf")" = "libdi_lib.so+$(printf '0x%x' $((leaf - libbase)))|leaf+0|di_lib.c:$L_LEAF" ] ||
		bad "$t: leaf at $leaf resolves to '$(di_of "$TMP/$t.rt" "$leaf")'"
	echo "$t: view --debug-info = babeltrace2 with 8 option sets; fib and leaf named as nm and the source say"
}

# ---- ringtrace's own trace ----
"$RT" record -q -o "$TMP/rtr" --func --context vpid,ip -- "$B/di_prog" "$B/libdi_lib.so" \
	>"$TMP/rtr.out" 2>"$TMP/rtr.err" &
PIDS+=($!)
wait "${PIDS[-1]}" || die "record: $(cat "$TMP/rtr.err")"
check_trace rtr "$TMP/rtr"
# the statedump's debug link of libdi_dep.so: objcopy's name, and the CRC-32
# of the debug file as zlib computes it; through it, babeltrace2 finds
# libdi_dep.so's separate DWARF (as with LTTng's trace below)
crc=$(python3 -c 'import sys, zlib; print(zlib.crc32(open(sys.argv[1], "rb").read()))' "$B/libdi_dep.so.debug")
grep -q "lttng_ust_statedump:debug_link: .*{ baddr = 0x[0-9A-F]*, crc = $crc, filename = \"libdi_dep.so.debug\" }" "$TMP/rtr.rt" ||
	bad "rtr: no debug_link event for libdi_dep.so with crc $crc"
grep "func_entry: " "$TMP/rtr.rt" | grep -q 'func = "dep_twice+0", src = "di_dep.c:'"$L_DEP"'"' ||
	bad "rtr: dep_twice not resolved through its debug link"
# our selections come before (-e, names) and after (--begin) the stage:
# the statedump events still resolve what -e keeps; a window that cuts
# them off leaves names empty, as babeltrace2's trimmer does
"$RT" view --debug-info --no-delta -e 'lttng_ust_cyg_profile:func_entry' "$TMP/rtr" >"$TMP/sel.rt" 2>&1 ||
	bad "view -e: $(head -c 300 "$TMP/sel.rt")"
"$RT" view --debug-info --no-delta "$TMP/rtr" | grep "lttng_ust_cyg_profile:func_entry" | cmp -s - "$TMP/sel.rt" ||
	bad "view --debug-info -e func_entry: not the func_entry lines of the whole output"
last_dump=$(grep "lttng_ust_statedump:end" "$TMP/rtr.rt" | head -1 | grep -o '^\[[0-9:.]*\]' | tr -d '[]')
compare rtr-begin "$TMP/rtr" --debug-info --begin="$last_dump" && echo "rtr: -e and --begin as expected"

# ---- an LTTng-UST trace of the same program ----
if ! command -v lttng >/dev/null || ! command -v lttng-sessiond >/dev/null; then
	bad "lttng-tools missing (scripts/deps.sh installs it)"
else
	if ! lttng list >/dev/null 2>&1; then
		lttng-sessiond >/dev/null 2>&1 &
		started=$!
		for _ in $(seq 100); do lttng list >/dev/null 2>&1 && break; sleep 0.1; done
		lttng list >/dev/null 2>&1 || die "cannot start lttng-sessiond"
	fi
	s=rtrdi$$
	sessions+=("$s")
	lttng create "$s" --output="$TMP/lttng" >/dev/null &&
		lttng enable-channel -u -s "$s" c >/dev/null &&
		lttng enable-event -u -s "$s" -c c -a >/dev/null &&
		lttng add-context -u -s "$s" -c c -t vpid -t ip >/dev/null &&
		lttng start "$s" >/dev/null || die "lttng session"
	LD_PRELOAD=liblttng-ust-cyg-profile.so:liblttng-ust-dl.so "$B/di_prog" "$B/libdi_lib.so" >"$TMP/lt.out" ||
		bad "di_prog under LTTng"
	lttng stop "$s" >/dev/null
	lttng destroy "$s" >/dev/null
	check_trace lttng "$TMP/lttng"
	# LTTng writes the debug link: libdi_dep.so's separate DWARF is found
	grep -q 'lttng_ust_statedump:debug_link: .*filename = "libdi_dep.so.debug"' "$TMP/lttng.rt" ||
		bad "lttng: no debug_link event for libdi_dep.so"
	grep "func_entry: " "$TMP/lttng.rt" | grep -q 'func = "dep_twice+0", src = "di_dep.c:'"$L_DEP"'"' ||
		bad "lttng: dep_twice not resolved through its debug link"
fi

# ---- every address: a trace that names each byte of the binaries' code ----
# (sweep.py): function entries, their middles, inlined code (the call
# site's line), rows of the line table, padding, the PLT; and a sample of
# libringtrace.so (an -O2 library of many units) one address in 61
if command -v python3 >/dev/null; then
	python3 "$SRC/sweep.py" "$TMP/sweep" 0x7f0000000000 1 "$B/di_prog" "$B/libdi_lib.so" \
		"$B/libdi_dep.so:$B/libdi_dep.so.debug" || die "sweep.py"
	compare sweep "$TMP/sweep" --debug-info
	compare sweep-full "$TMP/sweep" --debug-info-full-path
	compare sweep-nodwarf "$TMP/sweep" --debug-info-target-prefix="$TMP/nodwarf"
	compare sweep-byid "$TMP/sweep" --debug-info-target-prefix="$TMP/nodwarf" --debug-info-dir="$TMP/dbg"
	inl=$(grep -c "src = \"di_prog.c:$(grep -n 'twice(a)' "$SRC/di_prog.c" | cut -d: -f1)\"" "$TMP/sweep.rt")
	[ "$inl" -gt 0 ] || bad "sweep: no address of the inlined twice() named by its call site's line"
	lib=$(dirname "$RT")/../lib/libringtrace.so.0
	if [ -f "$lib" ]; then
		python3 "$SRC/sweep.py" "$TMP/sweep2" 0x7f0000000000 61 "$(realpath "$lib")" || die "sweep.py"
		compare sweep-lib "$TMP/sweep2" --debug-info
	fi
	echo "sweep: $(wc -l <"$TMP/sweep.rt") + $(wc -l <"$TMP/sweep-lib.rt" 2>/dev/null) addresses equal to babeltrace2 ($inl named by an inlined call's line)"
else
	bad "python3 missing"
fi

# ---- the shared corpus' traces with statedump events ----
if [ -n "$CORPUS" ] && [ -d "$CORPUS" ]; then
	n=0
	while IFS= read -r md; do
		d=$(dirname "$md")
		case $d in *-fail-*) continue ;; esac
		# some have statedump events but no vpid and ip contexts
		ANY_DI=1 compare "corpus$n" "$d" --debug-info &&
			ANY_DI=1 compare "corpus$n-full" "$d" --debug-info-full-path
		n=$((n + 1))
	done < <(grep -rl "lttng_ust_statedump:bin_info" "$CORPUS" --include=metadata | sort)
	[ "$n" -gt 0 ] || bad "no corpus trace with statedump events compared"
	echo "corpus: $n traces with statedump events, both option sets equal to babeltrace2"
fi
exit $fail
