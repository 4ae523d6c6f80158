#!/bin/bash
# record --func: a program built with -finstrument-functions (no PIE) and a
# library it dlopens, neither linked with ringtrace. Every call is recorded
# in order per thread, entry and exit balanced: the sequence of each thread,
# with addresses named by nm (the library's offset by its load base), equals
# the call tree of the program's recursion (fib(8) in main, fib(6) in a
# thread, the library's lib_work calling leaf 3 times), written out here
# from the source. Also: the ip context equals addr on every event (the
# function, as LTTng's TP_IP_PARAM), LTTng-UST's lttng_ust_dl events with
# the values /proc/self/maps and readelf give, the statedump and library load events let
# babeltrace2 --debug-info name every function (and its source file) as
# nm does, the fast variant (entry addresses,
# bare exits) gives the same entries, and babeltrace2 prints what
# `ringtrace view` prints.
# The program dlopens the library by its bare name, found through the
# program's DT_RUNPATH ($ORIGIN): the tracer's dlopen wrapper keeps that.
# Usage: func.sh RINGTRACE FUNC_PROG FUNC_LIB FUNC_LIB_NAME
set -u
RT=$1 PROG=$2 LIB=$3 LIBNAME=$4
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

record() { # name args...
	local n=$1
	shift
	"$RT" record -q -o "$TMP/$n" "$@" -- "$PROG" "$LIBNAME" >"$TMP/$n.out" 2>"$TMP/$n.err" &
	local rp=$!
	PIDS+=($rp)
	wait $rp || fail "record $*: $(cat "$TMP/$n.err")"
	grep -q "^result 21 8 6$" "$TMP/$n.out" || fail "the program's output changed: $(cat "$TMP/$n.out")"
	babeltrace2 "$TMP/$n" >"$TMP/$n.bt2" 2>"$TMP/$n.bt2err" || fail "babeltrace2: $(head -c 300 "$TMP/$n.bt2err")"
	[ -s "$TMP/$n.bt2err" ] && fail "babeltrace2 warned: $(head -c 300 "$TMP/$n.bt2err")"
	"$RT" view "$TMP/$n" | cmp -s - "$TMP/$n.bt2" || fail "ringtrace view differs from babeltrace2 ($n)"
}

# expected: "E name" / "X name" per thread, from the source
fibtree() { awk -v n="$1" 'function f(k) { print "E fib"; if (k >= 2) { f(k - 1); f(k - 2) } print "X fib" } BEGIN { f(n) }'; }
{ echo "E main"; fibtree 8; echo "E lib_work"; for i in 1 2 3; do echo "E leaf"; echo "X leaf"; done
  echo "X lib_work"; echo "X main"; } >"$TMP/exp.main"
{ echo "E worker"; fibtree 6; echo "X worker"; } >"$TMP/exp.thread"

# name of each address: "ADDR name" (hex, lower case, no 0x)
names() { # base file
	nm "$2" | while read -r a k n; do
		case $k in t | T) printf '%x %s\n' $((16#$a + $1)) "$n" ;; esac
	done
}

# "vtid E|X name" of a babeltrace2 text file, with the map in $TMP/map
seq_of() { # file provider
	sed -n "s/.* $2:func_\(entry\|exit\): .* vtid = \([0-9]*\) .*addr = 0x\([0-9A-F]*\).*/\2 \1 \3/p" "$1" |
		awk 'NR == FNR { m[$1] = $2; next }
		     { a = tolower($3); printf "%s %s %s\n", $1, ($2 == "entry" ? "E" : "X"), (a in m ? m[a] : "?" a) }' \
			"$TMP/map" -
}

record full --func --context vtid
base=$(($(awk '$1 == "libbase" { print $2 }' "$TMP/full.out")))
{ names 0 "$PROG"; names "$base" "$LIB"; } >"$TMP/map"
seq_of "$TMP/full.bt2" lttng_ust_cyg_profile >"$TMP/got"
tids=$(awk '{ print $1 }' "$TMP/got" | awk '!s[$0]++')
[ "$(echo "$tids" | wc -l)" -eq 2 ] || fail "expected events of 2 threads: $tids"
main_tid=$(head -1 "$TMP/got" | awk '{ print $1 }')
thr_tid=$(echo "$tids" | grep -vx "$main_tid")
awk -v t="$main_tid" '$1 == t { print $2, $3 }' "$TMP/got" >"$TMP/got.main"
awk -v t="$thr_tid" '$1 == t { print $2, $3 }' "$TMP/got" >"$TMP/got.thread"
diff "$TMP/exp.main" "$TMP/got.main" >"$TMP/d1" || fail "main thread's calls differ: $(head -20 "$TMP/d1")"
diff "$TMP/exp.thread" "$TMP/got.thread" >"$TMP/d2" || fail "second thread's calls differ: $(head -20 "$TMP/d2")"
# each exit's call_site is its entry's (balanced, paired by a stack)
sed -n 's/.* vtid = \([0-9]*\) }, { addr = 0x\([0-9A-F]*\), call_site = 0x\([0-9A-F]*\) }$/\1 \2 \3/p' "$TMP/full.bt2" >"$TMP/cs"
grep -o 'func_e[a-z]*' "$TMP/full.bt2" | paste -d' ' - "$TMP/cs" |
	awk '{ k = $2; if ($1 == "func_entry") { s[k, ++d[k]] = $3 " " $4 } else { if (d[k] < 1 || s[k, d[k]] != $3 " " $4) { print "unpaired exit " $0; exit 1 } d[k]-- } }
	     END { for (k in d) if (d[k]) { print "thread " k " left " d[k] " open"; exit 1 } }' >"$TMP/pair" ||
	fail "$(cat "$TMP/pair")"
echo "full: $(wc -l <"$TMP/got.main") events in main, $(wc -l <"$TMP/got.thread") in the thread, as the source's call tree"

# ip context = the function's address
record ip --func --context vpid,vtid,ip
n=$(grep -c "lttng_ust_cyg_profile:func_" "$TMP/ip.bt2")
[ "$n" -eq 196 ] || fail "ip run: $n events, expected 196"
bad=$(sed -n 's/.* lttng_ust_cyg_profile:func_.* ip = \(0x[0-9A-F]*\) }, { addr = \(0x[0-9A-F]*\),.*/\1 \2/p' "$TMP/ip.bt2" | awk '$1 != $2 { n++ } END { print n + 0 + (NR != 196) * 1000 }')
[ "$bad" -eq 0 ] || fail "$bad events whose ip is not their function's address"
# the statedump and lib load/unload events let babeltrace2's debug-info filter name
# every function, with its source file: the names nm gives
base=$(($(awk '$1 == "libbase" { print $2 }' "$TMP/ip.out")))
{ names 0 "$PROG"; names "$base" "$LIB"; } >"$TMP/map"
for e in statedump:start statedump:bin_info statedump:build_id statedump:end lib:load lib:build_id lib:unload dl:dlopen dl:build_id dl:dlclose; do
	grep -q "lttng_ust_$e: " "$TMP/ip.bt2" || fail "no lttng_ust_$e event"
done
# LTTng-UST's dl events (liblttng-ust-dl's names and fields) for the one
# dlopen and dlclose: baddr = the library's first mapping in the program's
# /proc/self/maps, memsz = its PT_LOAD span (readelf), flags RTLD_NOW, path
# the file, the build id readelf prints; lttng_ust_lib:load/unload for the
# same base
read -r _ range _ _ _ _ mpath < <(grep '^map ' "$TMP/ip.out")
[ -n "${range:-}" ] || fail "the program printed no map line"
mbase=$(printf '0x%X' $((16#${range%-*})))
[ "$(realpath "$mpath")" = "$(realpath "$LIB")" ] || fail "map line names $mpath"
lo=-1 hi=0
while read -r _ _ va _ _ ms _; do
	[ "$lo" -lt 0 ] || [ $((va)) -lt "$lo" ] && lo=$((va))
	[ $((va + ms)) -gt "$hi" ] && hi=$((va + ms))
done < <(readelf -lW "$LIB" | grep '^ *LOAD ')
memsz=$((hi - lo))
bid=$(readelf -n "$LIB" | sed -n 's/.*Build ID: \([0-9a-f]*\)/\1/p')
bidbt=$(echo "$bid" | sed 's/../&\n/g' | while read -r b; do [ -n "$b" ] && printf '0x%X\n' $((16#$b)); done |
	awk '{ printf "%s[%d] = %s", (n ? ", " : ""), n, $1; n++ }')
want="lttng_ust_dl:dlopen: .*{ baddr = $mbase, memsz = $memsz, flags = 0x2, path = \"$(realpath "$LIB")\", has_build_id = 1, has_debug_link = 0 }\$"
[ "$(grep -c "$want" "$TMP/ip.bt2")" -eq 1 ] || fail "no lttng_ust_dl:dlopen { baddr = $mbase, memsz = $memsz, ... }: $(grep 'lttng_ust_dl:dlopen' "$TMP/ip.bt2")"
grep -qF "lttng_ust_dl:build_id: " "$TMP/ip.bt2" &&
	grep -F "lttng_ust_dl:build_id: " "$TMP/ip.bt2" | grep -qF "{ baddr = $mbase, _build_id_length = $((${#bid} / 2)), build_id = [ $bidbt ] }" ||
	fail "lttng_ust_dl:build_id: not $bid: $(grep 'lttng_ust_dl:build_id' "$TMP/ip.bt2")"
[ "$(grep -c "lttng_ust_dl:dlclose: .*{ baddr = $mbase }\$" "$TMP/ip.bt2")" -eq 1 ] || fail "no lttng_ust_dl:dlclose of $mbase"
grep -q "lttng_ust_dl:debug_link" "$TMP/ip.bt2" && fail "a debug_link event for a library without .gnu_debuglink"
grep -q "lttng_ust_lib:load: .*{ baddr = $mbase, memsz = $memsz, path = \"$(realpath "$LIB")\", has_build_id = 1, has_debug_link = 0 }\$" "$TMP/ip.bt2" ||
	fail "no lttng_ust_lib:load of the library at $mbase"
grep -q "lttng_ust_lib:unload: .*{ baddr = $mbase }\$" "$TMP/ip.bt2" || fail "no lttng_ust_lib:unload of $mbase"
# order: dlopen, then the load of what it loaded; dlclose, then the unload
grep -o 'lttng_ust_\(dl:dlopen\|dl:dlclose\|lib:load\|lib:unload\): .*baddr = '"$mbase"'[, ]' "$TMP/ip.bt2" |
	sed 's/: .*//' | tr '\n' ' ' | grep -qx 'lttng_ust_dl:dlopen lttng_ust_lib:load lttng_ust_dl:dlclose lttng_ust_lib:unload ' ||
	fail "dl and lib events out of order"
babeltrace2 --debug-info "$TMP/ip" >"$TMP/dbg" 2>"$TMP/dbg.err" || fail "babeltrace2 --debug-info: $(head -c 300 "$TMP/dbg.err")"
sed -n 's/.*lttng_ust_cyg_profile:func_[a-z]*: .*debug_info = { bin = "[^"]*", func = "\([^"+]*\)+0", src = "\([^":]*\):[0-9]*" } }, { addr = 0x\([0-9A-F]*\),.*/\3 \1 \2/p' \
	"$TMP/dbg" | awk 'NR == FNR { m[$1] = $2; next }
		{ a = tolower($1); if (m[a] != $2 || ($3 != "func_prog.c" && $3 != "func_lib.c")) { print "0x" a ": babeltrace2 says " $2 " in " $3 ", nm says " m[a]; exit 1 } n++ }
		END { if (n != 196) { print n " events resolved, expected 196"; exit 1 } }' "$TMP/map" - >"$TMP/dbgcheck" ||
	fail "debug-info: $(cat "$TMP/dbgcheck")"

# fast: entries carry the address, exits nothing; same entries, as many exits
record fast --func=fast --context vtid
base=$(($(awk '$1 == "libbase" { print $2 }' "$TMP/fast.out")))
{ names 0 "$PROG"; names "$base" "$LIB"; } >"$TMP/map"
sed -n 's/.* lttng_ust_cyg_profile_fast:func_entry: .* vtid = \([0-9]*\) }, { addr = 0x\([0-9A-F]*\) }$/\1 entry \2/p' \
	"$TMP/fast.bt2" | awk 'NR == FNR { m[$1] = $2; next } { print $1, m[tolower($3)] }' "$TMP/map" - >"$TMP/fast.e"
fm=$(head -1 "$TMP/fast.e" | awk '{ print $1 }')
awk -v t="$fm" '$1 == t { print "E", $2 }' "$TMP/fast.e" | diff - <(grep "^E" "$TMP/exp.main") >/dev/null ||
	fail "fast: main thread's entries differ"
ne=$(grep -c "lttng_ust_cyg_profile_fast:func_entry" "$TMP/fast.bt2")
nx=$(grep -c "lttng_ust_cyg_profile_fast:func_exit: { cpu_id = [0-9]* }, { vtid = [0-9]* }, { }$" "$TMP/fast.bt2")
[ "$ne" -eq 98 ] && [ "$nx" -eq 98 ] || fail "fast: $ne entries, $nx bare exits; expected 98 each"
grep -q "lttng_ust_cyg_profile:" "$TMP/fast.bt2" && fail "fast also wrote the full variant"
echo "ip = addr on all 196 events, babeltrace2 --debug-info names them all as nm does; fast: 98 entries (same order), 98 bare exits"

"$RT" record -q -o "$TMP/bad" --func=slow -- true 2>"$TMP/bad.err" && fail "--func=slow accepted"
grep -q "expected --func, --func=full or --func=fast" "$TMP/bad.err" || fail "--func=slow: $(cat "$TMP/bad.err")"
exit 0
