#!/bin/bash
# `ringtrace view` with the parallel printer (RTR_PARALLEL=1: a helper
# thread formats batches) prints exactly what the sequential printer
# (RTR_PARALLEL=0) prints: same stdout and stderr in the same order, same
# exit status, with every timestamp option, with discarded events and lost
# packets between batches, and when a broken event stops the trace halfway.
# Usage: parallel.sh RINGTRACE GEN_TRACE
set -u
BIN=$(realpath "$1")
GEN=$(realpath "$2")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TZ=UTC LC_ALL=C
pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'PASS %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; }

# 1200000 events in 2 streams of 8 packets of 1 MiB (about 300 batches)
"$GEN" "$TMP/t" 1200000 2 >/dev/null || { echo "generator failed"; exit 1; }

# poke FILE OFFSET HEXBYTES: overwrites bytes in place
poke() { printf "$(echo "$3" | sed 's/\(..\)/\\x\1/g')" |
	dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# discarded events and a lost packet: packet context of chan_0's packet 2
# (events_discarded at byte 72) and chan_1's packet 3 (packet_seq_num at 64)
cp -r "$TMP/t" "$TMP/d"
P=1048576
poke "$TMP/d/chan_0" $((2 * P + 72)) 2a00000000000000
poke "$TMP/d/chan_1" $((3 * P + 64)) 0500000000000000
poke "$TMP/d/chan_1" $((4 * P + 64)) 0600000000000000
# a broken event halfway: event id 7 (no such class) in chan_1's packet 2
cp -r "$TMP/t" "$TMP/e"
b=$(od -An -tu1 -j $((2 * P + 84)) -N1 "$TMP/e/chan_1" | tr -d ' ')
poke "$TMP/e/chan_1" $((2 * P + 84)) "$(printf '%02x' $(((b & 0xe0) | 7)))"

# messages bigger than a batch's buffers (120000 array elements, 700 KB
# strings), alone and several in a row, between small ones
mkdir "$TMP/big"
cat >"$TMP/big/metadata" <<'EOM'
/* CTF 1.8 */
trace { major = 1; minor = 8; byte_order = le; };
clock { name = c; freq = 1000000000; };
typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := ts_t;
typealias integer { size = 32; align = 8; signed = false; } := u32;
stream { event.header := struct { integer { size = 8; align = 8; signed = false; } id; ts_t timestamp; }; };
event { name = small; id = 0; fields := struct { u32 x; }; };
event { name = big; id = 1; fields := struct {
	u32 n; integer { size = 8; align = 8; signed = false; base = 16; } a[n]; string s; }; };
EOM
perl -e 'my $t = 1000;
	for my $i (0 .. 19999) {
		$t += 10;
		if ($i % 3000 == 7 || ($i >= 10000 && $i < 10004)) {
			my $n = 120000;
			print pack("C Q< V", 1, $t, $n), pack("C*", map { $_ & 255 } 1 .. $n),
			    "x" x 700000, "\0";
		} else {
			print pack("C Q< V", 0, $t, $i);
		}
	}' >"$TMP/big/stream"

# same TRACE OPTIONS... : both printers, stdout and stderr interleaved
same() {
	local tr=$1 name
	shift
	name="$(basename "$tr") $*"
	RTR_PARALLEL=0 "$BIN" view "$@" "$tr" >"$TMP/seq" 2>&1
	local s=$?
	RTR_PARALLEL=1 "$BIN" view "$@" "$tr" >"$TMP/par" 2>&1
	local p=$?
	if [ $s -ne $p ]; then
		bad "$name: exit $s sequential, $p parallel"
	elif ! cmp -s "$TMP/seq" "$TMP/par"; then
		bad "$name: output differs ($(cmp "$TMP/seq" "$TMP/par" | head -1))"
	elif [ ! -s "$TMP/seq" ]; then
		bad "$name: no output"
	else
		ok "$name ($(wc -l <"$TMP/seq") lines, exit $s)"
	fi
}

same "$TMP/t"
same "$TMP/t" --clock-cycles
same "$TMP/t" --clock-seconds --no-delta
same "$TMP/t" --clock-date --clock-gmt --names all --fields all
same "$TMP/t" -e 'bench:b*'
same "$TMP/d"
grep -q '^WARNING: Tracer discarded 42 events' "$TMP/par" && ok "discarded events reported" ||
	bad "discarded events not reported"
grep -q '^WARNING: Tracer discarded 2 packets' "$TMP/par" && ok "lost packets reported" ||
	bad "lost packets not reported"
same "$TMP/e"
grep -q 'error:.*no event class with id 7' "$TMP/par" && ok "broken event reported" ||
	bad "broken event not reported"
same "$TMP/big"

echo "parallel: $pass passed, $fail failed"
[ $fail -eq 0 ]
