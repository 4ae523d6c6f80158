#!/bin/bash
# record --preload libc on programs we did not write: Debian's sort (one
# thread), sort --parallel=2 on 300 000 lines (two threads), dash running
# a pipeline (fork, exec) and python3. For each process: the program's
# output is unchanged, and the allocations and frees recorded equal the
# "total heap usage: N allocs, M frees" valgrind reports for the same
# command. What valgrind counts: every malloc, calloc, memalign... and
# realloc(NULL) as an alloc, realloc(p) as an alloc and a free, free(NULL)
# not at all, and nothing of glibc's exit-time clean-up with
# --run-libc-freeres=no. Both runs get the same environment variables
# (dash and python allocate per variable): valgrind's client has
# LD_LIBRARY_PATH, GLIBCPP_FORCE_NEW, GLIBCXX_FORCE_NEW and LD_PRELOAD
# added, ours LD_PRELOAD and RINGTRACE_HOST_SOCKET; each side gets the
# other's extra names. Also: every freed pointer was recorded allocated
# (nothing missed: aligned_alloc, reallocarray... are wrapped).
# Usage: libc.sh RINGTRACE
set -u
RT=$1
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v valgrind >/dev/null || { echo "SKIPPED: valgrind missing (scripts/deps.sh)"; exit 77; }
export LC_ALL=C PYTHONHASHSEED=0
seq 1 300000 | awk '{ printf "%d line\n", ($1 * 7919) % 300007 }' >"$TMP/big.txt"

# allocs and frees of a babeltrace2 text file of lttng_ust_libc events
count() {
	awk '/lttng_ust_libc:(malloc|calloc|memalign|aligned_alloc|valloc|pvalloc):/ { if ($0 !~ /ptr = 0x0 }/) a++ }
	     /lttng_ust_libc:posix_memalign:/ { if ($0 ~ /result = 0 }/) a++ }
	     /lttng_ust_libc:(realloc|reallocarray):/ { if ($0 !~ / ptr = 0x0 }/) a++; if ($0 !~ /in_ptr = 0x0,/) f++ }
	     /lttng_ust_libc:free:/ { if ($0 !~ /ptr = 0x0 }/) f++ }
	     END { print a + 0, f + 0 }' "$1"
}
# every non-NULL free (and realloc input) is a pointer recorded live
balanced() {
	sed -n 's/.*lttng_ust_libc:\([a-z_]*\): .*{ \(.*\) }$/\1 \2/p' "$1" |
		awk '{ for (i = 2; i <= NF; i++) { split($i, kv, " = "); } }
		     { line = $0; in_p = ""; out = ""
		       if (match(line, /in_ptr = 0x[0-9A-F]*/)) in_p = substr(line, RSTART + 9, RLENGTH - 9)
		       if ($1 == "free") { match(line, /ptr = 0x[0-9A-F]*/); in_p = substr(line, RSTART + 6, RLENGTH - 6) }
		       else if (match(line, / ptr = 0x[0-9A-F]*/)) out = substr(line, RSTART + 7, RLENGTH - 7)
		       if ($1 == "posix_memalign" && match(line, /out_ptr = 0x[0-9A-F]*/)) out = substr(line, RSTART + 10, RLENGTH - 10)
		       if (in_p != "" && in_p != "0x0") { if (!(in_p in live)) { print "free of unrecorded " in_p ": " line; bad = 1; exit 1 } delete live[in_p] }
		       if (out != "" && out != "0x0") live[out] = 1 }
		     END { exit bad }'
}

# run NAME CMD...: both ways; compares per process (by command)
run() {
	local name=$1
	shift
	env GLIBCPP_FORCE_NEW=1 GLIBCXX_FORCE_NEW=1 LD_LIBRARY_PATH=/usr/lib/debug \
		"$RT" record -q -o "$TMP/$name" --preload libc -- "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	local rp=$!
	PIDS+=($rp)
	wait $rp || fail "$name: record: $(cat "$TMP/$name.err")"
	env RINGTRACE_HOST_SOCKET=/nonexistent valgrind --run-libc-freeres=no --trace-children=yes \
		--log-file="$TMP/$name.vg.%p" "$@" >"$TMP/$name.vgout" 2>/dev/null &
	rp=$!
	PIDS+=($rp)
	wait $rp || fail "$name: valgrind run failed"
	"$@" >"$TMP/$name.plain" 2>/dev/null || fail "$name: plain run failed"
	cmp -s "$TMP/$name.plain" "$TMP/$name.out" || fail "$name: output changed under record --preload libc"
	# valgrind: "command allocs frees" per process (after exec: its log)
	for f in "$TMP/$name".vg.*; do
		c=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$f")
		u=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs, \([0-9,]*\) frees.*/\1 \2/p' "$f" | tr -d ,)
		[ -n "$u" ] && echo "$(basename "$c") $u"
	done | sort >"$TMP/$name.want"
	# ours: per process trace directory (PROGRAM-PID); a fork child's
	# events before its exec are in a trace of its own
	for d in "$TMP/$name"/*/; do
		babeltrace2 "$d" >"$TMP/bt" 2>"$TMP/bt.err" || fail "$name: babeltrace2 $d: $(head -c 300 "$TMP/bt.err")"
		"$RT" view "$d" | cmp -s - "$TMP/bt" || fail "$name: view differs from babeltrace2 on $d"
		p=$(basename "$d")
		# a fork child before its exec frees what its parent allocated:
		# the balance holds from an exec on (the pid's later trace)
		first=$(head -c 20 "$TMP/bt")
		prefork=0
		for o in "$TMP/$name"/*-"${p##*-}"/; do
			[ "$o" = "$d" ] && continue
			babeltrace2 "$o" 2>/dev/null | head -c 20 | { read -r of; [[ "$first" < "$of" ]]; } && prefork=1
		done
		# (valgrind keeps one log per pid, rewritten at exec: it does
		# not count the part before the exec either)
		[ $prefork = 1 ] && continue
		balanced "$TMP/bt" >"$TMP/bal" || fail "$name: $p: $(cat "$TMP/bal")"
		echo "${p%-*} $(count "$TMP/bt")"
	done | sort >"$TMP/$name.got"
	if ! diff "$TMP/$name.want" "$TMP/$name.got" >/dev/null; then
		fail "$name: allocs/frees per process differ: valgrind: $(tr '\n' ';' <"$TMP/$name.want") ours: $(tr '\n' ';' <"$TMP/$name.got")"
	fi
	echo "$name: $(tr '\n' ';' <"$TMP/$name.want") (valgrind = ours)"
}

run sort sort /etc/passwd
run sort_threads sort --parallel=2 -S 64M "$TMP/big.txt"
run sh_fork_exec sh -c "sort $TMP/big.txt | head -3; sort --parallel=2 -S 64M $TMP/big.txt | tail -1"
run python3 /usr/bin/python3 -S -c 'import json; print(sum(len(json.dumps({"k": list(range(i))})) for i in range(200)))'
exit 0
